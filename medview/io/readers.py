"""One entry point per job: ``read_image`` opens a path, ``load_item`` opens a project item,
``scan`` finds importable items (with their shape, spacing and content hash) in folders.

Every failure is a ``ReadError(path, reason)``: callers (the CLI, the window, the training
engine) never need to know which third-party library raised what.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from medview.core.errors import DiskFullError, MedviewError, ReadError, is_disk_full
from medview.core.image import Image
from medview.io import dicom, hashing, nifti, npz, raster
from medview.io.common import describe

PROJECT_SUFFIX = ".medview"  # medview.core.project.PROJECT_SUFFIX, without importing sqlite3

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool] | threading.Event | None

READERS = ("dicom", "nifti", "raster", "npz")
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


# ================================================================ read_image
def _kind_of(path: Path) -> str | None:
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
    kind = _kind_of(path)
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
    files = [p for p in _walk(folder, ScanResult()) if _kind_of(p) == "dicom"]
    if not files:
        raise ReadError(folder, "no DICOM files in this folder")
    return dicom.read_series(files, name=folder)


# ================================================================ load_item
def npz_cache_path(project: Any, content_hash: str) -> Path:
    """Where an npz row's pixels live inside the project (rows have no file of their own).
    ``Project.cache_file`` refuses hashes that are not plain tokens (a crafted database)."""
    if hasattr(project, "cache_file"):
        return Path(project.cache_file("npz", content_hash, ".npy"))
    return Path(project.cache_dir) / "npz" / f"{content_hash}.npy"


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
        return _load_npz_item(project, item)
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
        _warn_missing_slices(image, gap, len(paths) + len(gap))
    image.metadata.setdefault("name", item.name)
    return image


def present_paths(project: Any, item: Any) -> tuple[list[str], list[str]]:
    """(files there, files missing) of an item whose files are not all where they were: of
    its absolute paths and its paths relative to the project, the set with more files on
    disk (then: with more of their folders still there), so a missing file is named where
    the data is now, not at a location that moved."""
    options = [list(item.paths)]
    if getattr(item, "rel_paths", None):
        options.append([os.path.normpath(os.path.join(project.folder, p)) for p in item.rel_paths])
    best: tuple[list[str], list[str]] = ([], list(options[0]))
    best_score = (-1, -1)
    for option in options:
        present = [p for p in option if os.path.isfile(p)]
        folders = sum(1 for p in option if os.path.isdir(os.path.dirname(p)))
        if (len(present), folders) > best_score:
            best_score = (len(present), folders)
            best = (present, [p for p in option if p not in present])
    return best


def _warn_missing_slices(image: Image, missing: list[str], total: int) -> None:
    """A series with files deleted since import loads the rest; say which are missing."""
    names = ", ".join(Path(p).name for p in missing[:5]) + (", ..." if len(missing) > 5 else "")
    if len(missing) == 1:
        text = f"{names} is missing (deleted or moved since import)"
    else:
        text = f"{len(missing)} of {total} slice files are missing ({names})"
    shown = image.shape[0]
    warning = f"{text}: showing the other {shown} slice(s), with a gap where it was"
    if len(missing) > 1:
        warning = f"{text}: showing the other {shown} slice(s), with gaps where they were"
    image.metadata["warnings"] = [warning, *image.metadata.get("warnings", [])]
    image.metadata["missing_files"] = [Path(p).name for p in missing]


def check_item_files(paths: Sequence[str]) -> None:
    """An item's files must be regular files of a sane total size, checked before any is
    opened: the paths come from the project database, and a crafted one (/dev/zero, a FIFO)
    would make a reader wait or read forever."""
    total = 0
    for path in paths:
        try:
            info = os.stat(path)
        except OSError as exc:
            raise ReadError(path, f"cannot open ({exc.strerror or exc})") from exc
        if not stat.S_ISREG(info.st_mode):
            raise ReadError(path, "not a regular file (a device, FIFO or socket): not read")
        total += info.st_size
    limit = max_item_bytes()
    if total > limit:
        raise ReadError(
            paths[0],
            f"the item's files hold {total:,} bytes, more than the limit of {limit:,} "
            "(set MEDVIEW_MAX_VOXELS to raise it)",
        )


def max_item_bytes() -> int:
    """The largest item read: 16 bytes per voxel of the voxel ceiling (16 GiB by default),
    room for float64 data plus headers, far above any real series."""
    from medview.io.limits import max_voxels

    return 16 * max_voxels()


# ---------------------------------------------------------------- time-boxed reads
class _Abandoned(BaseException):
    """Raised in an abandoned reader at its next progress report, to stop it there. A
    BaseException so the readers' ``except Exception`` (one bad slice) does not swallow it."""


_stuck_lock = threading.Lock()
_stuck = 0  # reads given up on whose thread has not ended yet
MAX_STUCK_READS = 4


def read_time_limit() -> float:
    """Seconds a read of one item may go without progress (MEDVIEW_ITEM_READ_SECONDS,
    default 120; 0 or less: no limit)."""
    try:
        return float(os.environ.get("MEDVIEW_ITEM_READ_SECONDS", "120"))
    except ValueError:
        return 120.0


def timeboxed_read(
    path: str | Path,
    read: Callable[[Callable[[int, int], None] | None], Image],
    progress: Callable[[int, int], None] | None = None,
) -> Image:
    """``read(tick)`` on a daemon thread, given up with a ReadError when it makes no progress
    (``tick`` calls) for :func:`read_time_limit` seconds: a hung network drive must not hang
    the window, and a daemon thread never keeps the process from exiting.

    Python cannot kill a thread, so an abandoned reader is stopped at its next progress report
    (a series stops at its next slice), or runs until its current file read returns. At most
    MAX_STUCK_READS such readers may be pending; beyond that reads are refused at once rather
    than piling up threads on a dead drive."""
    global _stuck
    limit = read_time_limit()
    if limit <= 0:
        return read(progress)
    with _stuck_lock:
        if _stuck >= MAX_STUCK_READS:
            raise ReadError(
                path,
                f"{_stuck} earlier reads are still stuck (a hung drive?): not starting another",
            )
    state = {"deadline": time.monotonic() + limit, "abandoned": False}
    result: dict[str, Any] = {}
    finished = threading.Event()

    def tick(done: int, total: int) -> None:
        if state["abandoned"]:
            raise _Abandoned()
        state["deadline"] = time.monotonic() + limit  # progress: slow perhaps, not stuck
        if progress is not None:
            progress(done, total)

    def run() -> None:
        global _stuck
        try:
            result["image"] = read(tick)
        except _Abandoned:
            pass
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc
        finally:
            with _stuck_lock:
                finished.set()
                if state["abandoned"]:
                    _stuck -= 1

    threading.Thread(target=run, name="medview-item-read", daemon=True).start()
    while not finished.wait(max(0.0, float(state["deadline"]) - time.monotonic())):
        with _stuck_lock:
            if finished.is_set():
                break
            if time.monotonic() >= float(state["deadline"]):
                state["abandoned"] = True
                _stuck += 1
                break
    if state["abandoned"]:
        raise ReadError(
            path,
            f"reading stopped: no progress for {limit:g} s (a hung network drive or a very "
            "slow disk?); set MEDVIEW_ITEM_READ_SECONDS to allow longer",
        )
    if "error" in result:
        raise result["error"]
    return result["image"]


def _load_npz_item(project: Any, item: Any) -> Image:
    cached = npz_cache_path(project, item.content_hash)
    candidates = [cached]
    resolved = project.resolve_paths(item)
    if resolved:
        candidates.insert(0, Path(resolved[0]))
    for path in candidates:
        if path.is_file():
            array = np.load(path, allow_pickle=False)
            return Image(npz.row_image(array), metadata=_npz_meta(item))
    # The cache was deleted: the row can be re-read from the archive when it is still there.
    archive, key, row = item.meta.get("archive"), item.meta.get("key"), item.meta.get("row")
    if archive and key and row is not None and os.path.isfile(archive):
        data = npz.load_array(archive, key)
        if 0 <= int(row) < len(data):
            array = np.ascontiguousarray(data[int(row)])
            if hashing.hash_array(array) == item.content_hash:
                write_npz_cache(project, item.content_hash, array)
                return Image(npz.row_image(array), metadata=_npz_meta(item))
    raise ReadError(cached, f"the stored pixels of item {item.name!r} are missing")


def _npz_meta(item: Any) -> dict[str, Any]:
    return {"format": "npz", "name": item.name, **{k: item.meta[k] for k in item.meta}}


def write_npz_cache(project: Any, content_hash: str, row: np.ndarray) -> Path:
    """Store one npz row in the project cache (atomically, so a crash leaves no half file)."""
    return store_npz_row(project, content_hash, row)[0]


def store_npz_row(project: Any, content_hash: str, row: np.ndarray) -> tuple[Path, bool]:
    """:func:`write_npz_cache`, also saying whether this call created the file (an import
    that fails later removes only the files it created). The temporary file is removed on
    every failure; a full disk raises DiskFullError."""
    path = npz_cache_path(project, content_hash)
    if path.is_file():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with contextlib.suppress(OSError):
        os.unlink(temp)  # a stale one of ours (a killed import); "xb" never follows a link
    try:
        with open(temp, "xb") as handle:
            np.save(handle, np.ascontiguousarray(row), allow_pickle=False)
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if is_disk_full(exc):
            raise DiskFullError(
                f"{path.parent}: the disk is full (no space left to store imported pixels)"
            ) from exc
        raise
    return path, True


# ================================================================ scan
def _cancelled(cancel: Cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def _walk(root: Path, result: ScanResult) -> Iterable[Path]:
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
            files.extend((f, root) for f in _walk(root, result))
        elif root.is_file():
            files.append((root, root.parent))
        else:
            result.skipped.append(Skipped(str(root), "not found"))
    total = len(files)
    dicom_headers: list[tuple[dicom.DicomHeader, Path]] = []
    for index, (path, root) in enumerate(files):
        if _cancelled(cancel):
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
    kind = _kind_of(path)
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
