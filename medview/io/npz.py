"""MedMNIST-style ``.npz`` archives: ``{split}_images`` / ``{split}_labels`` per split.

Images are (N, H, W), (N, H, W, C) for 2D or (N, D, H, W) for 3D; labels (N,) or (N, 1).
Archives holding plain ``images`` / ``labels`` keys are accepted too (no split).

The archive is opened with ``allow_pickle=False``: an object array (which could run code when
unpickled) is refused, never loaded. Array headers are read from the zip members before any
array is decompressed, so a tiny archive declaring a huge array is refused early.

Class names: a label value ``i`` is the project's class at position ``i``; when the archive
carries its own names (a string array under ``label_names`` or ``classes``) those are used.
The importer adds classes the project lacks.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medview.core.errors import ReadError
from medview.core.image import Image
from medview.io.common import describe
from medview.io.limits import check_shape

SPLIT_PREFIXES = ("train", "val", "test")
NAME_KEYS = ("label_names", "classes")


@dataclass
class NpzPart:
    """One image array of an archive and its labels."""

    key: str  # "train_images" or "images"
    split: str | None
    shape: tuple[int, ...]  # (N, ...) as stored
    dtype: str
    label_key: str | None


def _member_header(archive: zipfile.ZipFile, key: str) -> tuple[tuple[int, ...], np.dtype]:
    with archive.open(f"{key}.npy") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    return tuple(int(s) for s in shape), np.dtype(dtype)


def list_parts(path: str | Path) -> tuple[list[NpzPart], list[str] | None]:
    """The image arrays of an archive (validated from their headers) and its class names."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            keys = [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
            headers = {k: _member_header(archive, k) for k in keys}
    except Exception as exc:
        raise ReadError(path, f"not a readable .npz archive ({describe(exc)})") from exc
    parts: list[NpzPart] = []
    candidates: list[tuple[str, str, str | None]] = [
        (f"{s}_images", f"{s}_labels", s) for s in SPLIT_PREFIXES
    ]
    candidates.append(("images", "labels", None))
    for image_key, label_key, split in candidates:
        if image_key not in headers:
            continue
        shape, dtype = headers[image_key]
        if dtype.hasobject:
            raise ReadError(path, f"{image_key} holds Python objects; refused (not loaded)")
        if dtype.kind not in "biuf":
            raise ReadError(path, f"{image_key} has unsupported type {dtype}")
        if len(shape) not in (3, 4):
            raise ReadError(
                path, f"{image_key} must be (N, H, W[, C]) or (N, D, H, W), got {shape}"
            )
        check_shape(path, shape, image_key)
        has_labels = label_key in headers
        if has_labels:
            label_shape, label_dtype = headers[label_key]
            if label_dtype.hasobject or label_shape[:1] != shape[:1]:
                raise ReadError(
                    path, f"{label_key} {label_shape} does not match {image_key} {shape}"
                )
        parts.append(NpzPart(image_key, split, shape, dtype.str, label_key if has_labels else None))
    if not parts:
        raise ReadError(path, "no train_images/val_images/test_images (or images) array")
    names = None
    for key in NAME_KEYS:
        if key in headers and headers[key][1].kind == "U":
            names = [str(n) for n in load_array(path, key).ravel()]
            break
    return parts, names


def load_array(path: str | Path, key: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return np.asarray(archive[key])
    except Exception as exc:
        raise ReadError(path, f"cannot read {key} ({describe(exc)})") from exc


def row_image(row: np.ndarray) -> np.ndarray:
    """One archive row as a medview array: (H, W) -> (1, H, W); (H, W, C) -> (1, H, W, C)
    for C in 1/3/4 (C == 1 squeezed); (D, H, W) -> itself."""
    if row.ndim == 2:
        return row[np.newaxis]
    if row.ndim == 3 and row.shape[-1] in (1, 3, 4) and row.shape[0] > 4:
        # (H, W, C): MedMNIST colour sets (PathMNIST...). A (D, H, W) volume with
        # W <= 4 is not a real case, while D <= 4 volumes would be misread, hence the D > 4.
        if row.shape[-1] == 1:
            return row[np.newaxis, ..., 0]
        return row[np.newaxis, ..., :3]
    return row


# The largest label value taken as a class index. A project holds at most 9 classes and
# MedMNIST sets at most 11; a larger value (1e12, a pixel value, an id) is not a class.
MAX_LABEL = 999


def label_rows(labels: np.ndarray, path: str | Path = "", key: str = "labels") -> np.ndarray | None:
    """Labels as a flat int array, or None when they are multi-label (N, k > 1).

    Every value must be a class index: a whole number from 0 to ``MAX_LABEL``. NaN, a
    negative, fractional or huge value raises ReadError naming the file, the key, the row and
    the value, rather than becoming a class named "1000000000000"."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        return None
    if labels.dtype.kind not in "biuf":
        raise ReadError(path, f"{key} has unsupported type {labels.dtype}: labels are refused")
    if labels.dtype.kind == "b" or labels.size == 0:
        return labels.astype(np.int64)
    values = labels.astype(np.float64) if labels.dtype.kind == "f" else labels
    with np.errstate(invalid="ignore"):
        good = (values >= 0) & (values <= MAX_LABEL)
        if labels.dtype.kind == "f":
            good &= np.isfinite(values) & (np.floor(values) == values)
    if not good.all():
        bad = np.flatnonzero(~good)
        row = int(bad[0])
        more = f" (and {len(bad) - 1} other row(s))" if len(bad) > 1 else ""
        raise ReadError(
            path,
            f"{key}[{row}] is {labels[row].item()!r}{more}: a label must be a class index, "
            f"a whole number from 0 to {MAX_LABEL}; the archive's labels are refused",
        )
    return labels.astype(np.int64)


def read_npy(path: str | Path) -> Image:
    """A bare ``.npy`` array: (H, W), (H, W, 3), (Z, Y, X) or (Z, Y, X, C)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _f, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _f, dtype = np.lib.format.read_array_header_2_0(handle)
            data_offset = handle.tell()
    except Exception as exc:
        raise ReadError(path, f"not a .npy array ({describe(exc)})") from exc
    dtype = np.dtype(dtype)
    if dtype.hasobject or dtype.kind not in "biuf":
        raise ReadError(path, f"unsupported array type {dtype}")
    check_shape(path, shape, "array")
    # numpy allocates what the header declares before reading: refuse a file that cannot
    # hold it (a few bytes declaring a gigabyte array) first.
    needed = data_offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    if size < needed:
        raise ReadError(
            path, f"truncated: the header needs {needed:,} bytes, the file has {size:,}"
        )
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ReadError(path, f"cannot read the array ({describe(exc)})") from exc
    if array.ndim == 3 and array.shape[-1] in (3, 4) and array.shape[0] > 4:
        array = array[np.newaxis, ..., :3]
    if array.ndim not in (2, 3, 4):
        raise ReadError(path, f"array shape {array.shape} is not an image")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    try:
        return Image(np.ascontiguousarray(array), metadata={"format": "NumPy"})
    except ValueError as exc:
        raise ReadError(path, str(exc)) from exc
