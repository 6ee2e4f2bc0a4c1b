"""Slice mode (``--slices all | middle:N | key``): which slices of a volume a 2D model sees,
along which axis, and how a volume-level split plan becomes a slice-level one.

Torch-free (numpy only), so the plan check and the window can use it; the decoding into
training tensors is ``training.slice_data``. See docs/slices.md.

* The axis is the volume's acquisition axis: array axis 0, along which a DICOM series is
  stacked and a NIfTI file stores its slices, unless a NIfTI header's ``dim_info`` names
  another slice dimension (the reader puts it in ``metadata["slice_axis"]``). Its plane name
  (axial, coronal, sagittal) comes from the patient direction of that axis.
* ``all`` keeps the slices with content: a slice is kept when at least ``min_content`` of its
  pixels are foreground, foreground being above 10 % of the volume's robust range (1st to 99th
  percentile) over its 1st percentile. Air around a CT and zero padding around an MR fall
  below it; ``--slice-min-content 0`` keeps every slice.
* ``middle:N`` takes the N central slices (all of them when the volume has fewer).
* ``key`` takes the slice the user marked (``Project.key_slices``); a volume without one falls
  back to its middle slice, and the plan check and the run's log name those volumes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from medview.core.key_slice_store import KeySlice
from training.config import parse_slices

PLANES = ("axial", "coronal", "sagittal")  # the slice view's names for array axes 0, 1, 2
FOREGROUND_FRACTION = 0.10  # of the robust range above the 1st percentile
STORE_BYTES = 2  # float16 per pixel: the slices are kept at half precision, one channel


@dataclass
class Selection:
    """The slices taken from one volume, and how they were chosen."""

    axis: int
    indices: list[int]
    source: str  # "all" | "middle" | "key" | "middle (no key slice)"
    dropped: int = 0  # slices without content left out (``all``)
    notes: list[str] = field(default_factory=list)


def acquisition_axis(direction: np.ndarray, metadata: Mapping[str, object]) -> int:
    """The array axis the volume was acquired along (see the module docstring)."""
    axis = metadata.get("slice_axis")
    if isinstance(axis, int) and axis in (0, 1, 2):
        return axis
    return 0


def plane_name(direction: np.ndarray, axis: int) -> str:
    """The anatomical plane of slices along ``axis``: its patient direction (LPS) is mostly
    x (left-right: sagittal), y (front-back: coronal) or z (head-foot: axial). Without a
    known orientation (the identity a reader leaves) it is the slice view's name of the axis."""
    matrix = np.asarray(direction, dtype=float)
    if np.allclose(matrix, np.eye(3)):
        return PLANES[axis]
    vector = np.abs(matrix[:, axis])
    return ("sagittal", "coronal", "axial")[int(np.argmax(vector))]


def content_mask(volume: np.ndarray, axis: int, min_content: float) -> np.ndarray:
    """True for the slices along ``axis`` with at least ``min_content`` foreground pixels."""
    data = np.moveaxis(np.asarray(volume, dtype=np.float32), axis, 0)
    depth = data.shape[0]
    if min_content <= 0 or depth == 0:
        return np.ones(depth, dtype=bool)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.zeros(depth, dtype=bool)
    low, high = np.percentile(finite, [1, 99])
    if high <= low:  # a constant volume: nothing stands out anywhere
        return np.zeros(depth, dtype=bool)
    threshold = low + FOREGROUND_FRACTION * (high - low)
    fraction = (data > threshold).reshape(depth, -1).mean(axis=1)
    return fraction >= min_content


def middle_indices(depth: int, count: int) -> list[int]:
    """The ``count`` central slice indices of ``depth`` (all of them when fewer); for one
    slice, ``depth // 2``, the slice view's (and ``Image.middle_slice``'s) middle."""
    count = min(count, depth)
    start = min(max(0, depth // 2 - count // 2), depth - count)
    return list(range(start, start + count))


def select_slices(
    volume: np.ndarray,
    axis: int,
    slices: str,
    *,
    key: KeySlice | None = None,
    min_content: float = 0.05,
) -> Selection:
    """The slices of ``volume`` (z, y, x) that ``--slices`` takes."""
    mode, count = parse_slices(slices)
    if mode == "key":
        if key is not None and 0 <= key.index < volume.shape[key.axis]:
            return Selection(key.axis, [key.index], "key")
        middle = middle_indices(volume.shape[axis], 1)
        return Selection(axis, middle, "middle (no key slice)")
    depth = volume.shape[axis]
    if mode == "middle":
        return Selection(axis, middle_indices(depth, count), "middle")
    keep = content_mask(volume, axis, min_content)
    indices = [int(i) for i in np.flatnonzero(keep)]
    notes = []
    if not indices:  # never lose a labelled volume: its middle slice stands in
        indices = middle_indices(depth, 1)
        notes.append("no slice has content above the threshold: its middle slice is used")
    return Selection(axis, indices, "all", dropped=depth - int(keep.sum()), notes=notes)


def planned_slices(shape: Sequence[int], axis: int, slices: str) -> int:
    """An upper bound of the slices a volume of ``shape`` gives (before reading it): what the
    memory check counts; ``all`` may keep fewer once empty slices are dropped."""
    mode, count = parse_slices(slices)
    depth = int(shape[axis]) if len(shape) > axis else 1
    if mode == "key":
        return 1
    return min(count, depth) if mode == "middle" else depth


def slice_memory_bytes(n_slices: int, size: int) -> int:
    """Bytes the slice store takes: one float16 channel per slice (an ImageNet model's three
    channels are a view of it, made per batch), not float32 copies."""
    return n_slices * size * size * STORE_BYTES


def slice_warnings(keys: Mapping[int, object], items: Sequence[object], slices: str) -> list[str]:
    """The plan check's notes on slice mode: in ``key`` mode, the volumes without a key
    slice (they fall back to their middle slice), named."""
    mode, _ = parse_slices(slices)
    if mode != "key":
        return []
    missing = [it for it in items if getattr(it, "id", None) not in keys]
    if not missing:
        return []
    names = ", ".join(str(getattr(it, "name", "?")) for it in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return [
        f"{len(missing)} of {len(items)} volumes have no key slice and will use their middle "
        f"slice: {names}{more}. Mark one with K in the viewer ('Use this slice for training')."
    ]


def per_slice_sizes(
    sizes: tuple[int, int, int, int], shapes: Sequence[Sequence[int]], slices: str | None
) -> tuple[int, int, int, int]:
    """(folds, training, validation, test) counts in slices instead of volumes, from the
    volumes' planned slices (Auto's epochs and the time estimate count what trains)."""
    if not slices or not shapes:
        return sizes
    per = sum(planned_slices(s, 0, slices) for s in shapes) / len(shapes)
    folds, train, val, test = sizes
    return folds, max(1, round(train * per)), max(1, round(val * per)), round(test * per)
