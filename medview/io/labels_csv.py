"""A labels CSV for an import: which row names which file (by path, else by name), with its
label and optional group and split. The column names are matched loosely (``path``/``file``,
``label``/``class``/``diagnosis``, ...) because such files come from spreadsheets."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medview.core.errors import ReadError
from medview.core.user_files import MIB, read_user_file
from medview.io.common import describe
from medview.io.scanning import Candidate

_PATH_COLUMNS = ("path", "file", "filepath", "file_path", "filename")
_NAME_COLUMNS = ("name", "item", "id", "image")
_LABEL_COLUMNS = ("label", "class", "classname", "class_name", "diagnosis")
_GROUP_COLUMNS = ("group", "patient", "patient_id", "subject", "animal", "group_id")
_SPLIT_COLUMNS = ("split", "set", "fold_set")


@dataclass
class CsvRow:
    label: str | None
    group: str | None
    split: str | None
    used: bool = False


@dataclass
class CsvLabels:
    by_path: dict[str, CsvRow]
    by_name: dict[str, CsvRow]
    rows: list[CsvRow]

    def find(self, candidate: Candidate) -> CsvRow | None:
        keys = []
        for path in candidate.paths:
            keys.append(_norm(path))
        if candidate.reader == "dicom" and candidate.paths:
            keys.append(_norm(str(Path(candidate.paths[0]).parent)))
        for key in keys:
            if key in self.by_path:
                return self.by_path[key]
        names = [candidate.name]
        if candidate.reader != "npz":
            for path in candidate.paths[:1]:
                names += [Path(path).name, Path(path).stem]
                if candidate.reader == "dicom":
                    names.append(Path(path).parent.name)
        for name in names:
            row = self.by_name.get(name.lower())
            if row is not None:
                return row
        return None


def _norm(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _pick(columns: dict[str, str], options: Sequence[str]) -> str | None:
    return next((columns[o] for o in options if o in columns), None)


def read_labels_csv(path: str | Path) -> CsvLabels:
    """Parse a labels CSV: columns ``path`` or ``name``, ``label``, optional ``group``/``split``.
    Relative paths are relative to the CSV's folder. Raises ReadError naming the file."""
    path = Path(path)
    # A regular file under 64 MiB (a row per file: 100k files are ~15 MB); never a device or
    # a FIFO (/dev/zero read without end, a FIFO hung the import).
    data = read_user_file(path, 64 * MIB, "labels CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(path, f"cannot read the labels CSV ({describe(exc)})") from exc
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    if not reader.fieldnames:
        raise ReadError(path, "the labels CSV is empty")
    columns = {str(c).strip().lower(): str(c) for c in reader.fieldnames if c}
    path_col, name_col = _pick(columns, _PATH_COLUMNS), _pick(columns, _NAME_COLUMNS)
    label_col = _pick(columns, _LABEL_COLUMNS)
    group_col, split_col = _pick(columns, _GROUP_COLUMNS), _pick(columns, _SPLIT_COLUMNS)
    if label_col is None or (path_col is None and name_col is None):
        raise ReadError(
            path,
            "the labels CSV needs a 'label' column and a 'path' or 'name' column "
            f"(found: {', '.join(reader.fieldnames)})",
        )
    labels = CsvLabels({}, {}, [])
    try:
        for record in reader:
            label = (record.get(label_col) or "").strip() or None
            group = (record.get(group_col) or "").strip() or None if group_col else None
            split = (record.get(split_col) or "").strip().lower() or None if split_col else None
            row = CsvRow(label, group, split)
            labels.rows.append(row)
            if path_col and (value := (record.get(path_col) or "").strip()):
                full = value if os.path.isabs(value) else str(path.parent / value)
                labels.by_path[_norm(full)] = row
                # A bare file name in the path column is also matched by name.
                if os.sep not in value and "/" not in value:
                    labels.by_name.setdefault(value.lower(), row)
            if name_col and (value := (record.get(name_col) or "").strip()):
                labels.by_name[value.lower()] = row
    except csv.Error as exc:
        raise ReadError(path, f"malformed CSV ({exc})") from exc
    return labels
