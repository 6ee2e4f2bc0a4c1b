"""Where a DICOM file's plane geometry and rescale are: top-level attributes in classic files,
functional groups (shared, then per frame) in enhanced multi-frame ones, GridFrameOffsetVector
in classic multi-frame ones. One table (``GEOMETRY_FIELDS``) says where each value lives, so
the header reader does not spell out every place by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class FrameInfo:
    """One 2D frame of a file: where it is and how to rescale it."""

    position: tuple[float, ...] | None  # x, y, z (mm)
    slope: float
    intercept: float


def to_float(value: Any, default: float | None = None) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


def to_floats(value: Any, count: int) -> tuple[float, ...] | None:
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(values) != count or not all(math.isfinite(v) for v in values):
        return None
    return values


def six_floats(value: Any) -> tuple[float, ...] | None:
    return to_floats(value, 6)


def two_floats(value: Any) -> tuple[float, ...] | None:
    return to_floats(value, 2)


def to_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def first_item(ds: Any, keyword: str) -> Any:
    seq = ds.get(keyword)
    return seq[0] if seq else None


@dataclass
class Geometry:
    """A file's plane geometry and rescale, wherever in the header they were found."""

    orientation: tuple[float, ...] | None = None
    spacing: tuple[float, ...] | None = None
    thickness: float | None = None
    between: float | None = None
    slope: float = 1.0
    intercept: float = 0.0


# Where each geometry value lives: a top-level attribute in classic files, the same attribute
# inside a functional group's sequence in enhanced multi-frame ones.
# (field, functional group sequence, keyword, reader, also read per frame)
GEOMETRY_FIELDS: tuple[tuple[str, str, str, Callable[[Any], Any], bool], ...] = (
    ("orientation", "PlaneOrientationSequence", "ImageOrientationPatient", six_floats, True),
    ("spacing", "PixelMeasuresSequence", "PixelSpacing", two_floats, True),
    ("thickness", "PixelMeasuresSequence", "SliceThickness", to_float, False),
    ("between", "PixelMeasuresSequence", "SpacingBetweenSlices", to_float, False),
)


def geometry_of(ds: Any) -> Geometry:
    """Top-level values first; the shared functional groups fill what is missing."""
    geometry = Geometry()
    for name, _, keyword, read, _ in GEOMETRY_FIELDS:
        setattr(geometry, name, read(ds.get(keyword)))
    geometry.slope, geometry.intercept = _rescale(ds, 1.0, 0.0)
    shared = first_item(ds, "SharedFunctionalGroupsSequence")
    if shared is not None:  # enhanced multi-frame: geometry lives in functional groups
        _fill_from_group(geometry, shared, per_frame=False)
        transform = first_item(shared, "PixelValueTransformationSequence")
        if transform is not None:
            geometry.slope, geometry.intercept = _rescale(
                transform, geometry.slope, geometry.intercept
            )
    return geometry


def _fill_from_group(geometry: Geometry, group: Any, per_frame: bool) -> None:
    """Geometry values still missing, from one functional group (shared or per frame)."""
    for name, sequence, keyword, read, in_frames in GEOMETRY_FIELDS:
        if getattr(geometry, name) or (per_frame and not in_frames):
            continue
        item = first_item(group, sequence)
        if item is not None:
            setattr(geometry, name, read(item.get(keyword)))


def _rescale(item: Any, slope: float, intercept: float) -> tuple[float, float]:
    """Rescale slope and intercept of an item, the given ones where it has none (a zero
    slope is not a rescale: the one before stays)."""
    slope = to_float(item.get("RescaleSlope"), slope) or slope
    return slope, to_float(item.get("RescaleIntercept"), intercept) or 0.0


def frame_info_of(ds: Any, geometry: Geometry, frames: int) -> list[FrameInfo]:
    """Each frame's position and rescale: from per-frame functional groups (enhanced
    multi-frame), from GridFrameOffsetVector (classic multi-frame), else the file's own."""
    position = to_floats(ds.get("ImagePositionPatient"), 3)
    frame_info = [FrameInfo(position, geometry.slope, geometry.intercept) for _ in range(frames)]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and len(per_frame) == frames:
        for info, group in zip(frame_info, per_frame, strict=True):
            plane_pos = first_item(group, "PlanePositionSequence")
            if plane_pos is not None:
                info.position = to_floats(plane_pos.get("ImagePositionPatient"), 3)
            _fill_from_group(geometry, group, per_frame=True)
            transform = first_item(group, "PixelValueTransformationSequence")
            if transform is not None:
                info.slope, info.intercept = _rescale(transform, info.slope, info.intercept)
    elif frames > 1 and position is not None and geometry.orientation is not None:
        _grid_positions(ds, frame_info, position, geometry.orientation)
    return frame_info


def _grid_positions(
    ds: Any, frame_info: list[FrameInfo], position: tuple[float, ...], orientation: Sequence[float]
) -> None:
    """Classic multi-frame (RT dose, NM): GridFrameOffsetVector gives offsets along the
    normal; without it the frames have no known position."""
    offsets = ds.get("GridFrameOffsetVector")
    values = to_floats(offsets, len(frame_info)) if offsets is not None else None
    if values is None:
        for info in frame_info:
            info.position = None
        return
    normal = slice_normal(orientation)
    for info, offset in zip(frame_info, values, strict=True):
        info.position = tuple(float(p) for p in np.asarray(position) + offset * normal)


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    """The unit slice normal (row direction x column direction) of an ImageOrientationPatient;
    +z when the cosines are degenerate, so that a broken header still gives a usable axis."""
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:], dtype=float)
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    return normal / norm if norm > 0 else np.array([0.0, 0.0, 1.0])
