"""Finding importable items under files and folders, from headers only: ``scan`` and the
``Candidate`` it describes each item with (its shape, spacing and content hash).

Why headers only: an import of thousands of files must not decode them all; pixels are read
when an item is shown or trained on (small 2D rasters are the exception, see ``scan``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

# Siblings by their full names, not ``from medview.io import ...``: this module then does
# not depend on the package's __init__, which imports it (no cycle in the module graph).
import medview.io.dicom as dicom
import medview.io.hashing as hashing
import medview.io.nifti as nifti
import medview.io.npz as npz
import medview.io.raster as raster
from medview.core.errors import ReadError
from medview.io.common import describe

PROJECT_SUFFIX = ".medview"  # medview.core.project.PROJECT_SUFFIX, without importing sqlite3

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool] | threading.Event | None

# Names that are never images and are skipped without a message (OS and viewer litter).
_SILENT_NAMES = {"dicomdir", "thumbs.db", "desktop.ini", "lockfile", "version"}


class Skipped(NamedTuple):
    """A file (or series) that was not imported, and why. A tuple, so ``path, reason = s``."""

    path: str
    reason: str


@dataclass
class Candidate:
    """An importable item found by :func:`scan`, described from headers only."""

    name: str
    kind: str  # "2d" | "3d"
    reader: str  # "dicom" | "nifti" | "raster" | "npz"
    paths: list[str]
    shape: tuple[int, ...]  # (z, y, x[, c])
    spacing: tuple[float, float, float]  # (z, y, x) mm
    content_hash: str
    size_bytes: int
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the scanned root this was found under (folder-derived labels)
    label_index: int | None = None  # npz rows
    split: str | None = None  # npz rows
    # DICOM: an unsalted hash of PatientID (the ID itself never leaves the reader). The
    # importer turns it into the project's salted pseudonym for the item's group, so series
    # of one patient stay in one cross-validation fold. Never stored as it is.
    patient_key: str | None = field(default=None, repr=False)


@dataclass
class ScanResult:
    found: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    cancelled: bool = False


def kind_of(path: Path) -> str | None:
    """Reader for a file from its name, or by sniffing for DICOM; None when unsupported."""
    name = path.name.lower()
    if nifti.is_nifti_name(name):
        return "nifti"
    suffix = path.suffix.lower()
    if suffix in raster.SUFFIXES:
        return "raster"
    if suffix == ".npz":
        return "npz"
    if suffix == ".npy":
        return "npy"
    if suffix in dicom.DICOM_SUFFIXES or dicom.looks_like_dicom(path):
        return "dicom"
    return None


def cancelled(cancel: Cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def walk(root: Path, result: ScanResult) -> Iterable[Path]:
    """Files under a folder, sorted, following folder links but never into a loop."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            stat = folder.stat()
            key = (stat.st_dev, stat.st_ino)
            if key in seen:
                continue
            seen.add(key)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            result.skipped.append(Skipped(str(folder), f"cannot list folder ({exc.strerror})"))
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files and folders (.DS_Store, .git, our own temp files)
            try:
                if entry.is_dir() and entry.name.endswith(PROJECT_SUFFIX):
                    continue  # a medview project: its cache holds images of its own
                if entry.is_dir():
                    subfolders.append(Path(entry.path))
                elif entry.is_file():
                    yield Path(entry.path)
                elif entry.is_symlink():
                    # Neither file nor folder behind the link: it points to nothing or into
                    # a loop of links. Name it, since the user may expect an image there.
                    result.skipped.append(
                        Skipped(entry.path, "broken link (points to nothing, or to itself)")
                    )
            except OSError:
                continue
        stack.extend(reversed(subfolders))


def scan(
    sources: Sequence[str | Path] | str | Path,
    progress: Progress | None = None,
    cancel: Cancel = None,
) -> ScanResult:
    """Find importable items under files/folders, from headers only (pixels are not decoded,
    except small 2D rasters, which is cheap and names a truncated JPEG now rather than later).
    """
    if isinstance(sources, str | Path):
        sources = [sources]
    result = ScanResult()
    files: list[tuple[Path, Path]] = []  # (file, source root)
    for source in sources:
        root = Path(source).expanduser().absolute()
        if root.is_dir():
            files.extend((f, root) for f in walk(root, result))
        elif root.is_file():
            files.append((root, root.parent))
        else:
            result.skipped.append(Skipped(str(root), "not found"))
    total = len(files)
    dicom_headers: list[tuple[dicom.DicomHeader, Path]] = []
    for index, (path, root) in enumerate(files):
        if cancelled(cancel):
            result.cancelled = True
            return result
        if progress:
            progress(index, total, f"reading {path.name}")
        try:
            _scan_file(path, root, result, dicom_headers)
        except ReadError as exc:
            result.skipped.append(Skipped(str(path), exc.reason))
        except MemoryError:
            result.skipped.append(Skipped(str(path), "not enough memory to read it"))
        except Exception as exc:
            result.skipped.append(Skipped(str(path), f"cannot read ({describe(exc)})"))
    if progress:
        progress(total, total, "grouping DICOM series")
    _add_dicom_series(dicom_headers, result)
    return result


def _scan_file(
    path: Path,
    root: Path,
    result: ScanResult,
    dicom_headers: list[tuple[dicom.DicomHeader, Path]],
) -> None:
    if path.name.lower() in _SILENT_NAMES:
        return
    size = path.stat().st_size
    if size == 0:
        raise ReadError(path, "empty file (0 bytes)")
    kind = kind_of(path)
    if kind is None:
        raise ReadError(
            path, f"not an image file (unsupported type {path.suffix or 'no extension'})"
        )
    if kind == "dicom":
        dicom_headers.append((dicom.read_header(path), root))
        return
    if kind == "npz":
        result.found.extend(_scan_npz(path, root))
        return
    if kind == "nifti":
        shape, spacing, meta = nifti.probe_nifti(path)
    elif kind == "raster":
        shape, meta = raster.probe_raster(path)
        spacing = (1.0, 1.0, 1.0)
    else:  # .npy: read it whole (a bare array has no cheaper header worth trusting)
        image = npz.read_npy(path)
        shape = tuple(image.array.shape) if image.is_rgb else image.shape
        spacing, meta = image.spacing, dict(image.metadata)
    result.found.append(
        Candidate(
            name=_stem(path),
            kind="2d" if shape[0] == 1 else "3d",
            reader="nifti" if kind == "nifti" else "raster",
            paths=[str(path)],
            shape=tuple(int(s) for s in shape),
            spacing=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
            content_hash=hashing.hash_file(path),
            size_bytes=size,
            meta=meta,
            source=str(root),
        )
    )


def _stem(path: Path) -> str:
    name = path.name
    for double in (".nii.gz", ".ome.tif", ".ome.tiff"):
        if name.lower().endswith(double):
            return name[: -len(double)]
    return path.stem


def _scan_npz(path: Path, root: Path) -> list[Candidate]:
    parts, names = npz.list_parts(path)
    found: list[Candidate] = []
    stem = path.stem
    for part in parts:
        images = npz.load_array(path, part.key)
        labels = None
        multi_label = False
        if part.label_key:
            labels = npz.label_rows(npz.load_array(path, part.label_key), path, part.label_key)
            multi_label = labels is None
        prefix = f"{stem}_{part.split}" if part.split else stem
        for row in range(images.shape[0]):
            data = np.ascontiguousarray(images[row])
            shape = npz.row_image(data).shape
            if len(shape) == 4 and shape[-1] == 1:
                shape = shape[:3]
            meta: dict[str, Any] = {"archive": str(path), "key": part.key, "row": row}
            if part.split:
                meta["split"] = part.split
            if names:
                meta["class_names"] = names
            if multi_label:
                meta["notes"] = ["multi-label row: imported without a label"]
            found.append(
                Candidate(
                    name=f"{prefix}_{row:05d}",
                    kind="2d" if shape[0] == 1 else "3d",
                    reader="npz",
                    paths=[str(path)],
                    shape=tuple(int(s) for s in shape),
                    spacing=(1.0, 1.0, 1.0),
                    content_hash=hashing.hash_array(data),
                    size_bytes=int(data.nbytes),
                    meta=meta,
                    source=str(root),
                    label_index=int(labels[row]) if labels is not None else None,
                    split=part.split,
                )
            )
    return found


def _add_dicom_series(headers: list[tuple[dicom.DicomHeader, Path]], result: ScanResult) -> None:
    if not headers:
        return
    roots = {h.path: root for h, root in headers}
    plans, skipped = dicom.group_series([h for h, _ in headers])
    result.skipped.extend(Skipped(p, r) for p, r in skipped)
    # Name a series after its folder; several series in one folder get their number and
    # description appended (never patient fields).
    per_folder: dict[str, int] = {}
    for plan in plans:
        key = str(Path(plan.first.path).parent)
        per_folder[key] = per_folder.get(key, 0) + 1
    for plan in plans:
        first = plan.first
        folder = Path(first.path).parent
        if len(plan.headers) == 1:
            name = Path(first.path).stem
        else:
            name = folder.name
        if per_folder[str(folder)] > 1 and len(plan.headers) > 1:
            extra = " ".join(
                s for s in (str(first.series_number or ""), first.series_description) if s
            )
            name = f"{name} {extra}".strip() if extra else f"{name} {first.series_uid[-8:]}"
        file_hashes = [hashing.hash_file(p) for p in plan.paths]
        meta: dict[str, Any] = {
            "format": "DICOM",
            "modality": first.modality,
            "series_description": first.series_description,
            "files": len(plan.paths),
        }
        if plan.warnings:
            meta["warnings"] = plan.warnings
        shape = plan.shape
        result.found.append(
            Candidate(
                name=name,
                kind="2d" if shape[0] == 1 else "3d",
                reader="dicom",
                paths=plan.paths,
                shape=shape,
                spacing=plan.spacing,
                content_hash=hashing.hash_series(file_hashes)
                if len(file_hashes) > 1
                else file_hashes[0],
                size_bytes=sum(h.size_bytes for h in plan.headers),
                meta=meta,
                source=str(roots[first.path]),
                patient_key=first.patient_key,
            )
        )
