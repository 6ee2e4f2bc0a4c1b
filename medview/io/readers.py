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

import medview.io.formats.registry as registry

# Siblings by their full names, not ``from medview.io import ...``: this module then does
# not depend on the package's __init__, which imports it (no cycle in the module graph).
from medview.core.errors import MedviewError, ReadError
from medview.core.image import Image
from medview.io.common import describe
from medview.io.formats.base import check_readable
from medview.io.formats.dicom import DicomReader
from medview.io.formats.registry import ITEM_READERS, item_reader, reader_for
from medview.io.item_files import (
    check_item_files,
    max_item_bytes,
    present_paths,
)
from medview.io.npz_cache import (
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

READERS = tuple(ITEM_READERS)  # what an item's reader column may say


def read_image(path: str | Path) -> Image:
    """Open one image: a DICOM file or folder (its largest series), or any file a registered
    reader claims (NIfTI, TIFF, PNG/JPG/BMP, ``.npy``...). Raises ``ReadError`` and nothing
    else."""
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
    folder_reader = registry.folder_reader(path) if path.is_dir() else None
    if folder_reader is not None:
        return folder_reader.read(path)
    if path.is_dir():
        return _read_dicom_folder(path)
    check_readable(path)
    reader = reader_for(path)
    if reader is None:
        raise ReadError(path, f"unsupported file type {path.suffix or '(no extension)'}")
    return reader.read(path)


def _read_dicom_folder(folder: Path) -> Image:
    """All DICOM files under a folder, decoded in one pass (each file is read once); when they
    form several series the largest is returned, with a warning naming the others' count."""
    files = [p for p in walk(folder, ScanResult()) if kind_of(p) == "dicom"]
    if not files:
        raise ReadError(folder, "no DICOM files in this folder")
    return DicomReader().read_files(files, folder)


def read_scanned(candidate: Candidate) -> Image:
    """The pixels of a scanned candidate without a project (``medview apply``): the part of
    its file it describes (a microscope scene, not the file's first), in memory."""
    where = candidate.paths[0] if candidate.paths else candidate.name
    reader = item_reader(candidate.reader)
    if reader is None:
        raise ReadError(where, f"unknown reader {candidate.reader!r}")
    try:
        return reader.read_item(candidate, candidate.paths, None).loaded()
    except ReadError:
        raise
    except MedviewError as exc:
        raise ReadError(where, str(exc)) from exc
    except MemoryError as exc:
        raise ReadError(where, "not enough memory to load this image") from exc
    except Exception as exc:
        raise ReadError(where, f"cannot read ({describe(exc)})") from exc


# ================================================================ load_item
def load_item(
    project: Any,
    item: Any,
    progress: Callable[[int, int], None] | None = None,
    lazy: bool = False,
) -> Image:
    """Load a project item (``medview.core.project.Item``). Raises ReadError naming the file.
    ``progress(done, total)`` is called per decoded file of a DICOM series. ``lazy``: a
    microscope scene comes back unread (``Image.plane`` reads one plane); otherwise every
    image is in memory, as the views and the training engine expect."""
    try:
        image = _load_item(project, item, progress)
        return image if lazy else image.loaded()
    except ReadError:
        raise
    except MedviewError as exc:
        raise ReadError(item.path or item.name, str(exc)) from exc
    except MemoryError as exc:
        raise ReadError(item.path or item.name, "not enough memory to load this image") from exc
    except Exception as exc:
        raise ReadError(item.path or item.name, f"cannot read ({describe(exc)})") from exc


def _load_item(project: Any, item: Any, progress: Callable[[int, int], None] | None) -> Image:
    reader = item_reader(item.reader)
    if reader is None:
        raise ReadError(item.path, f"unknown reader {item.reader!r}")
    image = reader.load_item(project, item, progress)
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
    "read_scanned",
    "read_time_limit",
    "scan",
    "store_npz_row",
    "timeboxed_read",
    "write_npz_cache",
]
