"""Neuroimaging formats nibabel reads besides single-file NIfTI: Analyze 7.5 and NIfTI pairs
(``.hdr`` + ``.img``, what SPM writes) and FreeSurfer ``.mgh``/``.mgz``.

A pair is one item of two files, scanned from its ``.hdr``; its ``.img`` is skipped silently
when the header is beside it and named when it is alone. Geometry comes from nibabel's
affine exactly as for NIfTI (medview.io.nifti: RAS -> LPS, axes (k, j, i) -> (z, y, x)).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import medview.io.hashing as hashing
from medview.core.errors import ReadError
from medview.core.image import Image
from medview.io.common import describe
from medview.io.formats.base import (
    Candidate,
    FormatReader,
    ScanBatch,
    Tick,
    file_candidate,
    kind_from_shape,
)
from medview.io.limits import check_shape
from medview.io.nifti import _geometry


def partner(path: Path, suffix: str) -> Path | None:
    """The other file of a pair (``.img`` for ``.hdr`` and back), in either letter case."""
    for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
        if candidate.is_file():
            return candidate
    return None


class AnalyzeReader(FormatReader):
    name = "analyze"
    suffixes = (".hdr", ".img")

    def sniff(self, path: Path) -> bool:
        # SPM writes the voxel-to-world matrix as NAME.mat beside NAME.hdr/.img: part of the
        # pair (nibabel reads it with the header), not a file to name as unsupported.
        return path.suffix.lower() == ".mat" and partner(path, ".hdr") is not None

    def scan_file(self, path: Path, root: Path, batch: ScanBatch) -> list[Candidate]:
        if path.suffix.lower() == ".mat":
            return []
        if path.suffix.lower() == ".img":
            if partner(path, ".hdr") is not None:
                return []  # the pair is one item, found from its header
            raise ReadError(path, "an .img without its .hdr header beside it: not read")
        header, data = self._pair(path)
        img = _load(header, _PAIR_CLASSES, "an Analyze 7.5 or NIfTI pair header")
        shape, notes = _spatial_shape(header, img)
        _check_complete(data, img, shape, compressed=False)
        _, spacing, _ = _geometry(img.affine)
        return [
            Candidate(
                name=header.stem,
                kind=kind_from_shape(shape[::-1]),
                reader=self.name,
                paths=[str(header), str(data)],
                shape=tuple(int(s) for s in shape[::-1]),
                spacing=spacing,
                content_hash=hashing.hash_series(
                    [hashing.hash_file(header), hashing.hash_file(data)]
                ),
                size_bytes=header.stat().st_size + data.stat().st_size,
                meta=_meta(img, notes),
                source=str(root),
            )
        ]

    def _pair(self, path: Path) -> tuple[Path, Path]:
        """(header, image file) of the pair ``path`` belongs to, naming a missing half."""
        if path.suffix.lower() in (".img", ".mat"):
            header = partner(path, ".hdr")
            if header is None:
                raise ReadError(path, "an .img without its .hdr header beside it: not read")
            return header, path
        data = partner(path, ".img")
        if data is None:
            raise ReadError(
                path,
                f"its image file {path.with_suffix('.img').name} is missing (the pair "
                "is a .hdr header and an .img file of the same name)",
            )
        return path, data

    def read(self, path: Path) -> Image:
        header, data = self._pair(path)
        img = _load(header, _PAIR_CLASSES, "an Analyze 7.5 or NIfTI pair header")
        shape, notes = _spatial_shape(header, img)
        _check_complete(data, img, shape, compressed=False)
        return _image(header, img, shape, notes)

    def read_item(self, item: Any, paths: Sequence[str], tick: Tick | None) -> Image:
        return self.read(Path(paths[0]))

    def item_files_checked(self, paths: Sequence[str]) -> Sequence[str]:
        return paths


class MghReader(FormatReader):
    name = "mgh"
    suffixes = (".mgh", ".mgz")

    def scan_file(self, path: Path, root: Path, batch: ScanBatch) -> list[Candidate]:
        img = _load(path, ("MGHImage",), "a FreeSurfer MGH file")
        shape, notes = _spatial_shape(path, img)
        _check_complete(path, img, shape, compressed=path.suffix.lower() == ".mgz")
        _, spacing, _ = _geometry(img.affine)
        return [file_candidate(self, path, root, shape[::-1], spacing, _meta(img, notes))]

    def read(self, path: Path) -> Image:
        img = _load(path, ("MGHImage",), "a FreeSurfer MGH file")
        shape, notes = _spatial_shape(path, img)
        _check_complete(path, img, shape, compressed=path.suffix.lower() == ".mgz")
        return _image(path, img, shape, notes)


_PAIR_CLASSES = (
    "AnalyzeImage",
    "Spm99AnalyzeImage",
    "Spm2AnalyzeImage",
    "Nifti1Pair",
    "Nifti2Pair",
)
_FORMAT_NAMES = {"Nifti1Pair": "NIfTI pair", "Nifti2Pair": "NIfTI-2 pair", "MGHImage": "MGH"}


def _load(path: Path, classes: Sequence[str], what: str) -> Any:
    import nibabel as nib

    try:
        img = nib.load(str(path))
    except Exception as exc:  # ImageFileError, EOFError, gzip errors, ValueError...
        raise ReadError(path, f"not readable as {what} ({describe(exc)})") from exc
    if type(img).__name__ not in classes:
        raise ReadError(path, f"not {what} (nibabel reads it as {type(img).__name__})")
    return img


def _spatial_shape(path: Path, img: Any) -> tuple[tuple[int, int, int], list[str]]:
    """(i, j, k) of the first volume, and a note when later volumes are left out."""
    shape = tuple(int(s) for s in img.header.get_data_shape())
    if not shape or any(s <= 0 for s in shape):
        raise ReadError(path, f"the header declares an invalid size {shape}")
    notes = []
    if len(shape) > 3 and any(s > 1 for s in shape[3:]):
        notes.append(f"{len(shape)}D file {shape}: showing the first volume")
    spatial = (shape + (1, 1, 1))[:3]
    check_shape(path, spatial, "volume")
    return spatial, notes  # type: ignore[return-value]


def _check_complete(data: Path, img: Any, spatial: Sequence[int], compressed: bool) -> None:
    """The first volume's bytes must all be in the data file (a half-copied .img is named at
    scan time, and nibabel never allocates what a short file cannot fill)."""
    header = img.header
    needed = int(header.get_data_offset()) + int(np.prod(spatial)) * int(
        header.get_data_dtype().itemsize
    )
    have = data.stat().st_size
    if compressed:
        have = 0
        try:
            with gzip.open(data, "rb") as stream:
                while have < needed and (chunk := stream.read(1 << 22)):
                    have += len(chunk)
        except (OSError, EOFError, zlib.error) as exc:
            raise ReadError(data, f"corrupt or truncated gzip data ({describe(exc)})") from exc
    if have < needed:
        raise ReadError(
            data, f"truncated: the header needs {needed:,} bytes, {data.name} has {have:,}"
        )


def _meta(img: Any, notes: list[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"format": _FORMAT_NAMES.get(type(img).__name__, "Analyze 7.5")}
    if notes:
        meta["notes"] = notes
    return meta


def _image(path: Path, img: Any, spatial: tuple[int, int, int], notes: list[str]) -> Image:
    try:
        proxy = img.dataobj
        extra = len(img.shape) - 3
        data = np.asanyarray(proxy[(slice(None),) * 3 + (0,) * extra] if extra > 0 else proxy)
    except Exception as exc:  # truncated data, bad gzip, bad dtype...
        raise ReadError(path, f"cannot read the image data ({describe(exc)})") from exc
    array = np.ascontiguousarray(data.reshape(spatial).transpose(2, 1, 0))
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8)
    origin, spacing, direction = _geometry(img.affine)
    return Image(
        array, spacing=spacing, origin=origin, direction=direction, metadata=_meta(img, notes)
    )
