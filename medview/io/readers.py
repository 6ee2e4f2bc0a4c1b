"""One entry point per job: ``read_image`` opens a path, ``load_item`` opens a project item,
``scan`` finds importable items (with their shape, spacing and content hash) in folders.

``scan`` lives in ``scanning``, the npz row cache in ``npz_cache``, the checks of an item's
files in ``item_files`` and the time limit on reads in ``timebox``; they are re-exported here,
the one module callers import.

Every failure is a ``ReadError(path, reason)``: callers (the CLI, the window, the training
engine) never need to know which third-party library raised what.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# Siblings by their full names, not ``from medview.io import ...``: this module then does
# not depend on the package's __init__, which imports it (no cycle in the module graph).
import medview.io.dicom as dicom
import medview.io.nifti as nifti
import medview.io.npz as npz
import medview.io.raster as raster
from medview.core.errors import MedviewError, ReadError
from medview.core.image import Image
from medview.io.common import describe
from medview.io.item_files import (
    check_item_files,
    max_item_bytes,
    present_paths,
    warn_missing_slices,
)
from medview.io.npz_cache import (
    load_npz_item,
    npz_cache_path,
    store_npz_row,
    write_npz_cache,
)
from medview.io.scanning import (
    PROJECT_SUFFIX,
    Cancel,
    Candidate,
    Progress,
    ScanResult,
    Skipped,
    cancelled,
    kind_of,
    scan,
    walk,
)
from medview.io.timebox import MAX_STUCK_READS, read_time_limit, timeboxed_read

READERS = ("dicom", "nifti", "raster", "npz")


def read_image(path: str | Path) -> Image:
    """Open one image: a DICOM file or folder (its largest series), NIfTI, TIFF, PNG/JPG/BMP
    or ``.npy``. Raises ``ReadError`` and nothing else."""
    path = Path(path)
    try:
        return _read_image(path)
    except ReadError:
        raise
    except MedviewError as exc:
        raise ReadError(path, str(exc)) from exc
    except MemoryError as exc:
        raise ReadError(path, "not enough memory to load this image") from exc
    except Exception as exc:  # a reader bug must still reach the user as a named file
        raise ReadError(path, f"cannot read ({describe(exc)})") from exc


def _read_image(path: Path) -> Image:
    if path.is_dir():
        return _read_dicom_folder(path)
    if not path.exists():
        raise ReadError(path, "file not found")
    if not path.is_file():
        raise ReadError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise ReadError(path, "empty file (0 bytes)")
    kind = kind_of(path)
    if kind == "nifti":
        return nifti.read_nifti(path)
    if kind == "raster":
        return raster.read_raster(path)
    if kind == "npy":
        return npz.read_npy(path)
    if kind == "dicom":
        return dicom.read_series([path], name=path)
    if kind == "npz":
        raise ReadError(path, "an .npz archive holds many images: import it into a project")
    raise ReadError(path, f"unsupported file type {path.suffix or '(no extension)'}")


def _read_dicom_folder(folder: Path) -> Image:
    """All DICOM files under a folder, decoded in one pass (each file is read once); when they
    form several series the largest is returned, with a warning naming the others' count."""
    files = [p for p in walk(folder, ScanResult()) if kind_of(p) == "dicom"]
    if not files:
        raise ReadError(folder, "no DICOM files in this folder")
    return dicom.read_series(files, name=folder)


# ================================================================ load_item
def load_item(project: Any, item: Any, progress: Callable[[int, int], None] | None = None) -> Image:
    """Load a project item (``medview.core.project.Item``). Raises ReadError naming the file.
    ``progress(done, total)`` is called per decoded file of a DICOM series."""
    try:
        return _load_item(project, item, progress)
    except ReadError:
        raise
    except MedviewError as exc:
        raise ReadError(item.path or item.name, str(exc)) from exc
    except MemoryError as exc:
        raise ReadError(item.path or item.name, "not enough memory to load this image") from exc
    except Exception as exc:
        raise ReadError(item.path or item.name, f"cannot read ({describe(exc)})") from exc


def _load_item(project: Any, item: Any, progress: Callable[[int, int], None] | None) -> Image:
    if item.reader == "npz":
        return load_npz_item(project, item)
    if item.reader not in READERS:
        raise ReadError(item.path, f"unknown reader {item.reader!r}")
    paths = project.resolve_paths(item)
    gap: list[str] = []
    if paths is None:
        paths, gap = present_paths(project, item)
        if not paths or item.reader != "dicom":
            missing = gap[0] if gap else item.path
            raise ReadError(missing, f"file not found (item {item.name!r}; moved? try re-linking)")
    check_item_files(paths if item.reader == "dicom" else paths[:1])

    def read(tick: Callable[[int, int], None] | None) -> Image:
        if item.reader == "dicom":
            return dicom.read_series(paths, progress=tick, name=Path(paths[0]).parent)
        if item.reader == "nifti":
            return nifti.read_nifti(paths[0])
        return read_image(paths[0])

    image = timeboxed_read(paths[0], read, progress)
    if gap:
        warn_missing_slices(image, gap, len(paths) + len(gap))
    image.metadata.setdefault("name", item.name)
    return image


__all__ = [
    "MAX_STUCK_READS",
    "PROJECT_SUFFIX",
    "READERS",
    "Cancel",
    "Candidate",
    "Progress",
    "ScanResult",
    "Skipped",
    "cancelled",
    "check_item_files",
    "load_item",
    "max_item_bytes",
    "npz_cache_path",
    "present_paths",
    "read_image",
    "read_time_limit",
    "scan",
    "store_npz_row",
    "timeboxed_read",
    "write_npz_cache",
]
