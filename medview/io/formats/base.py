"""The reader interface every file format implements, and what a scan describes items with.

A format is one :class:`FormatReader` subclass, registered in
:mod:`medview.io.formats.registry`. It says which files are its own (``suffixes``, or
``sniff`` of a file's first bytes), describes them from headers (``scan_file``, and
``finish_scan`` for formats whose items span files, such as a DICOM series), opens one
(``read``) and opens a project item (``read_item``; ``medview.io.readers.load_item`` wraps it
in the time box and the regular-file guard). Nothing outside this package needs to know which
format an item is in (MONAI's ``ImageReader``: ``verify_suffix`` / ``read``, one class each).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import medview.io.hashing as hashing
from medview.core.errors import ReadError
from medview.core.image import Image
from medview.io.item_files import check_item_files, present_paths, warn_missing_slices
from medview.io.timebox import timeboxed_read

Tick = Callable[[int, int], None]


class Skipped(NamedTuple):
    """A file (or series) that was not imported, and why. A tuple, so ``path, reason = s``."""

    path: str
    reason: str


@dataclass
class Candidate:
    """An importable item found by a scan, described from headers only."""

    name: str
    kind: str  # "2d" | "3d"
    reader: str  # the FormatReader.item_reader that opens it: "dicom", "nifti", "raster", ...
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
    # One part of a file (a microscope scene, a time point): the file's own hash and the
    # indexes read. content_hash, the identity, is made from all three (part_hash).
    file_hash: str | None = None
    scene: int | None = None
    time_index: int | None = None


@dataclass
class ScanResult:
    found: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    cancelled: bool = False


@dataclass
class ScanBatch:
    """One scan's shared state: its result, and what formats whose items span several files
    (DICOM series) collect per file until ``finish_scan`` groups them."""

    result: ScanResult
    pending: dict[str, list[Any]] = field(default_factory=dict)

    def pending_for(self, reader: str) -> list[Any]:
        return self.pending.setdefault(reader, [])


class FormatReader:
    """One file format. Subclasses set ``name`` and ``suffixes`` (lower case, with the dot;
    double suffixes such as ``.nii.gz`` allowed) and override what they support."""

    name: ClassVar[str] = ""  # what ``kind_of`` calls the format
    item_reader: ClassVar[str] = ""  # what an item's ``reader`` column says ("" = name)
    suffixes: ClassVar[tuple[str, ...]] = ()
    # Whether an item still opens with some of its files gone (a series shows a gap).
    partial_ok: ClassVar[bool] = False
    # Whether a folder with one of its suffixes is one image (an OME-Zarr store), scanned
    # and opened as a whole rather than walked into.
    reads_folders: ClassVar[bool] = False

    @property
    def item_name(self) -> str:
        return self.item_reader or self.name

    def claims(self, path: Path) -> bool:
        """Whether the file is this format's, from its name."""
        name = path.name.lower()
        return any(name.endswith(s) for s in self.suffixes)

    def sniff(self, path: Path) -> bool:
        """Whether the file is this format's, from its first bytes (names no format claims)."""
        return False

    def scan_file(self, path: Path, root: Path, batch: ScanBatch) -> list[Candidate]:
        """The items in one file, from headers (``batch`` for formats that group files)."""
        raise NotImplementedError

    def finish_scan(self, batch: ScanBatch) -> None:
        """Items made of several scanned files, added to ``batch.result`` once all are seen."""

    def read(self, path: Path) -> Image:
        """One file opened as an image."""
        raise ReadError(path, f"{self.name} files cannot be opened on their own")

    def read_item(self, item: Any, paths: Sequence[str], tick: Tick | None) -> Image:
        """A project item's pixels from its (present, checked) files; the first file by
        default."""
        return self.read(Path(paths[0]))

    def item_files_checked(self, paths: Sequence[str]) -> Sequence[str]:
        """Which of an item's files the regular-file guard checks before reading."""
        return paths[:1]

    def load_item(self, project: Any, item: Any, progress: Tick | None) -> Image:
        """A project item: its files found (where they were, or relative to the project),
        checked to be regular files of a sane size, then read under the time box."""
        paths = project.resolve_paths(item)
        gap: list[str] = []
        if paths is None:
            paths, gap = present_paths(project, item)
            if not paths or not self.partial_ok:
                missing = gap[0] if gap else item.path
                raise ReadError(
                    missing, f"file not found (item {item.name!r}; moved? try re-linking)"
                )
        check_item_files(self.item_files_checked(paths))
        image = timeboxed_read(paths[0], lambda tick: self.read_item(item, paths, tick), progress)
        if gap:
            warn_missing_slices(image, gap, len(paths) + len(gap))
        return image


def check_readable(path: Path) -> None:
    """A path that names an existing, non-empty regular file, or a ReadError saying which."""
    if not path.exists():
        raise ReadError(path, "file not found")
    if not path.is_file():
        raise ReadError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise ReadError(path, "empty file (0 bytes)")


def stem(path: Path) -> str:
    """A file's name without its (possibly double) suffix: an item's default name."""
    name = path.name
    for double in (".nii.gz", ".ome.tif", ".ome.tiff"):
        if name.lower().endswith(double):
            return name[: -len(double)]
    return path.stem


def kind_from_shape(shape: Sequence[int]) -> str:
    return "2d" if shape[0] == 1 else "3d"


def file_candidate(
    reader: FormatReader,
    path: Path,
    root: Path,
    shape: Sequence[int],
    spacing: Sequence[float],
    meta: dict[str, Any],
) -> Candidate:
    """The one item a single-file format finds in ``path``, identified by the file's hash."""
    return Candidate(
        name=stem(path),
        kind=kind_from_shape(shape),
        reader=reader.item_name,
        paths=[str(path)],
        shape=tuple(int(s) for s in shape),
        spacing=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
        content_hash=hashing.hash_file(path),
        size_bytes=path.stat().st_size,
        meta=meta,
        source=str(root),
    )


def part_hash(file_hash: str, scene: int, time_index: int | None) -> str:
    """The identity of one part of a file: its scenes (and time points) are distinct items,
    and the same file imported again is still a duplicate of each."""
    return hashing.hash_series(
        [file_hash, f"scene {scene}", f"time {time_index if time_index is not None else 0}"]
    )
