"""Finding importable items under files and folders, from headers only: ``scan`` and the
``Candidate`` it describes each item with (its shape, spacing and content hash). Each file
goes to the reader the registry (medview.io.formats.registry) picks for it.

Why headers only: an import of thousands of files must not decode them all; pixels are read
when an item is shown or trained on (small 2D rasters are the exception, see ``scan``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import medview.io.formats.registry as registry
from medview.core.errors import ReadError
from medview.io.common import describe
from medview.io.formats.base import Candidate, ScanBatch, ScanResult, Skipped

PROJECT_SUFFIX = ".medview"  # medview.core.project.PROJECT_SUFFIX, without importing sqlite3

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool] | threading.Event | None

# Names that are never images and are skipped without a message (OS and viewer litter).
_SILENT_NAMES = {"dicomdir", "thumbs.db", "desktop.ini", "lockfile", "version"}

__all__ = ["Candidate", "ScanResult", "Skipped", "kind_of", "scan", "walk"]


def kind_of(path: Path) -> str | None:
    """Reader for a file from its name, or by sniffing (DICOM); None when unsupported."""
    reader = registry.reader_for(path)
    return reader.name if reader else None


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
                if entry.is_dir() and registry.folder_reader(Path(entry.path)):
                    yield Path(entry.path)  # one image kept in a folder (OME-Zarr)
                elif entry.is_dir():
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
        if root.is_dir() and not registry.folder_reader(root):
            files.extend((f, root) for f in walk(root, result))
        elif root.is_file() or root.is_dir():  # a folder here is one image (OME-Zarr)
            files.append((root, root.parent))
        else:
            result.skipped.append(Skipped(str(root), "not found"))
    total = len(files)
    batch = ScanBatch(result)
    for index, (path, root) in enumerate(files):
        if cancelled(cancel):
            result.cancelled = True
            return result
        if progress:
            progress(index, total, f"reading {path.name}")
        try:
            _scan_file(path, root, batch)
        except ReadError as exc:
            result.skipped.append(Skipped(str(path), exc.reason))
        except MemoryError:
            result.skipped.append(Skipped(str(path), "not enough memory to read it"))
        except Exception as exc:
            result.skipped.append(Skipped(str(path), f"cannot read ({describe(exc)})"))
    if progress:
        progress(total, total, "grouping DICOM series")
    for reader in registry.REGISTRY:
        reader.finish_scan(batch)
    return result


def _scan_file(path: Path, root: Path, batch: ScanBatch) -> None:
    if path.name.lower() in _SILENT_NAMES:
        return
    if path.is_file() and path.stat().st_size == 0:
        raise ReadError(path, "empty file (0 bytes)")
    reader = registry.reader_for(path)
    if reader is None:
        raise ReadError(
            path, f"not an image file (unsupported type {path.suffix or 'no extension'})"
        )
    batch.result.found.extend(reader.scan_file(path, root, batch))
