"""Key slices from a CSV (``medview import --key-slices-csv FILE``): slice-mode protocol (b),
one key slice per volume, without the window.

Columns, matched loosely like a labels CSV (medview/io/labels_csv.py): ``path`` or ``name``
naming the volume (a relative path is relative to the CSV's folder), ``slice`` the index
(0-based, as the slice view and ``medview key-slice`` count), and optionally ``axis`` (0 1 2)
or ``plane`` (axial coronal sagittal; default axial). Each row is applied on its own: a row
that names no volume, or a slice outside it, is reported with its line number and the reason,
and the other rows still count.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medview.core.errors import MedviewError, ReadError
from medview.core.project import Project
from medview.io.common import describe

PLANES = {"axial": 0, "coronal": 1, "sagittal": 2}
_PATH_COLUMNS = ("path", "file", "filepath", "file_path", "filename")
_NAME_COLUMNS = ("name", "item", "image", "volume")
_SLICE_COLUMNS = ("slice", "key_slice", "index", "slice_index")
_AXIS_COLUMNS = ("axis", "plane")


@dataclass
class KeySliceReport:
    set: list[str] = field(default_factory=list)  # "NAME: axial 12"
    skipped: list[str] = field(default_factory=list)  # "FILE line N: reason"

    def lines(self) -> list[str]:
        out = [f"key slices: {len(self.set)} set, {len(self.skipped)} skipped"]
        return out + [f"  skipped {line}" for line in self.skipped]


def parse_axis(text: str) -> int:
    """0/1/2 or a plane's name; ValueError naming what is accepted."""
    value = text.strip().lower()
    if value in PLANES:
        return PLANES[value]
    if value in ("0", "1", "2"):
        return int(value)
    raise ValueError(f"axis {text!r} is not 0, 1, 2, axial, coronal or sagittal")


def check_key_slices_csv(path: str | Path) -> None:
    """ReadError now when the file cannot be read or lacks its columns (before an import)."""
    _read(Path(path))


def apply_key_slices_csv(project: Project, path: str | Path) -> KeySliceReport:
    """Set the key slice of every volume the CSV names; ReadError when the file itself cannot
    be read or lacks the columns."""
    path = Path(path)
    records, columns = _read(path)
    by_path, by_name = _item_index(project)
    report = KeySliceReport()
    for line, record in records:
        where = f"{path.name} line {line}"
        try:
            item_id, name = _find(record, columns, path, by_path, by_name)
            index = int((record.get(columns["slice"] or "") or "").strip())
            axis_text = (record.get(columns["axis"] or "") or "") if columns["axis"] else ""
            axis = parse_axis(axis_text) if axis_text.strip() else 0
            project.set_key_slice(item_id, axis, index)
        except (ValueError, MedviewError) as exc:
            report.skipped.append(f"{where}: {exc}")
            continue
        plane = next(p for p, a in PLANES.items() if a == axis)
        report.set.append(f"{name}: {plane} {index}")
    return report


def _read(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], dict[str, str | None]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReadError(path, f"cannot read the key-slices CSV ({describe(exc)})") from exc
    reader = csv.DictReader(text.splitlines())
    found = {str(c).strip().lower(): str(c) for c in reader.fieldnames or [] if c}

    def pick(options: tuple[str, ...]) -> str | None:
        return next((found[o] for o in options if o in found), None)

    columns = {
        "path": pick(_PATH_COLUMNS),
        "name": pick(_NAME_COLUMNS),
        "slice": pick(_SLICE_COLUMNS),
        "axis": pick(_AXIS_COLUMNS),
    }
    if columns["slice"] is None or (columns["path"] is None and columns["name"] is None):
        raise ReadError(
            path,
            "the key-slices CSV needs a 'slice' column and a 'path' or 'name' column "
            f"(found: {', '.join(reader.fieldnames or []) or 'none'})",
        )
    try:
        return [(n + 2, r) for n, r in enumerate(reader)], columns
    except csv.Error as exc:
        raise ReadError(path, f"malformed CSV ({exc})") from exc


def _item_index(project: Project) -> tuple[dict[str, int], dict[str, list[int]]]:
    by_path: dict[str, int] = {}
    by_name: dict[str, list[int]] = {}
    for item in project.items():
        for source in item.paths:
            by_path[_norm(source)] = item.id
        if item.reader == "dicom" and item.paths:  # a series by its folder
            by_path.setdefault(_norm(str(Path(item.paths[0]).parent)), item.id)
        by_name.setdefault(item.name.lower(), []).append(item.id)
    return by_path, by_name


def _find(
    record: dict[str, Any],
    columns: dict[str, str | None],
    csv_path: Path,
    by_path: dict[str, int],
    by_name: dict[str, list[int]],
) -> tuple[int, str]:
    if columns["path"] and (value := (record.get(columns["path"]) or "").strip()):
        full = value if os.path.isabs(value) else str(csv_path.parent / value)
        if _norm(full) in by_path:
            return by_path[_norm(full)], value
    name_col = columns["name"] or columns["path"]
    value = (record.get(name_col) or "").strip() if name_col else ""
    base = Path(value).name.lower()
    # as named in the CSV, its file name, or that without extensions (vol01.nii.gz -> vol01)
    ids = by_name.get(value.lower()) or by_name.get(base) or by_name.get(base.split(".")[0], [])
    if len(ids) > 1:
        raise ValueError(f"{len(ids)} items are named {value!r}: give its path")
    if not ids:
        raise ValueError(f"no item {value!r} in the project")
    return ids[0], value


def _norm(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))
