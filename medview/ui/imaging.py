"""Pure numpy helpers for the slice view: planes, window/level presets, colour maps."""

from __future__ import annotations

from typing import Any

import numpy as np

from medview.core.display import CT_SOFT_TISSUE, is_ct, looks_like_ct, subsample
from medview.core.image import Image

AXES = ("axial", "coronal", "sagittal")

# (width, level) in the image's units (Hounsfield units for CT).
PRESETS: dict[str, tuple[float, float]] = {
    "CT soft tissue": CT_SOFT_TISSUE,
    "CT lung": (1500.0, -600.0),
    "CT bone": (2500.0, 480.0),
    "CT brain": (80.0, 40.0),
}
AUTO = "Auto (percentile)"
FULL = "Full range"

COLORMAPS = ("Grey", "Inverted grey", "Hot", "Viridis", "Inferno", "Magma")


# Array axes shown as (rows, columns) for each plane.
_PLANE_AXES = {0: (1, 2), 1: (0, 2), 2: (0, 1)}
# Radiological convention, in LPS patient space: the patient vector pointing screen-down and
# the one pointing screen-right. Axial: anterior up, the patient's right on the screen's left;
# coronal: superior up, right on the left; sagittal: superior up, anterior on the left.
_SCREEN = {
    0: ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0)),
    1: ((0.0, 0.0, -1.0), (1.0, 0.0, 0.0)),
    2: ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),
}


def known_orientation(image: Image) -> bool:
    """Readers that know the orientation (DICOM, NIfTI) never leave the identity, whose
    convention would map array z onto patient x."""
    return image.kind == "3d" and not np.allclose(image.direction, np.eye(3))


def flips(image: Image, axis: int) -> tuple[bool, bool]:
    """Whether the plane's rows and columns are reversed for display."""
    if image.kind != "3d":
        return False, False  # a 2D image is shown as stored
    if not known_orientation(image):
        return axis != 0, False  # unknown: at least slice 0 at the bottom of side views
    row_axis, col_axis = _PLANE_AXES[axis]
    down, right = _SCREEN[axis]
    direction = np.asarray(image.direction, dtype=float)
    return (
        float(direction[:, row_axis] @ down) < 0,
        float(direction[:, col_axis] @ right) < 0,
    )


def raw_plane(image: Image, axis: int, index: int) -> tuple[np.ndarray, tuple[float, float]]:
    """The plane as stored (a view, no copy) and its (row, col) pixel size in mm. The slice
    view draws this and mirrors it with the item's transform, which costs nothing."""
    array = image.array
    if array.ndim == 4 and array.shape[-1] == 1:  # a grey image with an explicit channel axis
        array = array[..., 0]
    elif array.ndim == 4 and image.channel_names:
        # Named microscope channels: the slice view shows the first in grey (its window and
        # colour maps are per value); thumbnails show the composite (channel_composite).
        array = array[..., 0]
    data = array[index] if axis == 0 else array[:, index] if axis == 1 else array[:, :, index]
    row_axis, col_axis = _PLANE_AXES[axis]
    return data, (image.spacing[row_axis], image.spacing[col_axis])


def plane(image: Image, axis: int, index: int) -> tuple[np.ndarray, tuple[float, float]]:
    """The 2D plane shown for ``axis`` (0 axial, 1 coronal, 2 sagittal) at ``index``,
    oriented as radiologists expect when the reader knew the orientation, with its (row,
    col) pixel size in mm.
    """
    data, spacing = raw_plane(image, axis, index)
    flip_rows, flip_cols = flips(image, axis)
    if flip_rows:
        data = data[::-1]
    if flip_cols:
        data = data[:, ::-1]
    return data, spacing


def plane_index_to_voxel(
    image: Image, axis: int, index: int, row: int, col: int, oriented: bool = True
) -> tuple[int, int, int]:
    """(z, y, x) voxel of pixel (row, col) in ``plane(...)`` (``raw_plane`` if not
    ``oriented``)."""
    row_axis, col_axis = _PLANE_AXES[axis]
    flip_rows, flip_cols = flips(image, axis) if oriented else (False, False)
    voxel = [0, 0, 0]
    voxel[axis] = index
    voxel[row_axis] = image.array.shape[row_axis] - 1 - row if flip_rows else row
    voxel[col_axis] = image.array.shape[col_axis] - 1 - col if flip_cols else col
    return voxel[0], voxel[1], voxel[2]


_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))  # + and - along patient x, y, z (LPS)


def _letter(vector: np.ndarray) -> str:
    axis = int(np.argmax(np.abs(vector)))
    return _LETTERS[axis][0 if vector[axis] > 0 else 1]


def edge_labels(image: Image, axis: int) -> tuple[str, str, str, str] | None:
    """Patient directions at the (left, right, top, bottom) edges of the shown plane, or
    None when the reader did not know the orientation (identity direction, 2D images)."""
    if not known_orientation(image):
        return None
    direction = np.asarray(image.direction, dtype=float)
    row_axis, col_axis = _PLANE_AXES[axis]
    flip_rows, flip_cols = flips(image, axis)
    down = direction[:, row_axis] * (-1 if flip_rows else 1)
    right = direction[:, col_axis] * (-1 if flip_cols else 1)
    return _letter(-right), _letter(right), _letter(-down), _letter(down)


def axis_length(image: Image, axis: int) -> int:
    return int(image.array.shape[axis])


def percentile_window(image: Image, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """(width, level) covering the low..high percentiles, from a subsample so a 300-slice
    volume costs milliseconds, not a second."""
    array = image.array
    if image.is_rgb:
        array = array[..., :3]
    sample = subsample(array, 400_000)
    sample = np.asarray(sample, dtype=np.float32).ravel()
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return 1.0, 0.5
    lo, hi = (float(v) for v in np.percentile(sample, [low, high]))
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    if hi <= lo:
        hi = lo + 1.0
    return hi - lo, (hi + lo) / 2


def full_window(image: Image) -> tuple[float, float]:
    if image.array.dtype == np.uint8:
        return 255.0, 127.5
    array = image.array[..., :3] if image.is_rgb else image.array
    lo, hi = float(np.nanmin(array)), float(np.nanmax(array))
    if hi <= lo:
        hi = lo + 1.0
    return hi - lo, (hi + lo) / 2


def default_window(image: Image, auto: tuple[float, float] | None = None) -> tuple[float, float]:
    """CT starts in soft tissue; 8-bit colour images in their true colours; the rest
    (microscopy, MR, 16-bit, unknown) with a robust percentile window."""
    if is_ct(image):
        return PRESETS["CT soft tissue"]
    if image.is_rgb and image.array.dtype == np.uint8:
        return 255.0, 127.5
    return auto or percentile_window(image)


def modality_key(image: Image) -> str | None:
    """The key under which the last window/level is remembered, or None when there is no
    modality to go by (each microscopy image gets its own percentile window instead)."""
    modality = str(image.metadata.get("modality", "")).strip().upper()
    if not modality and looks_like_ct(image):
        return "CT"
    return modality or None


def colormap_lut(name: str) -> np.ndarray | None:
    """A 256×3 uint8 lookup table (None for plain grey, the fastest path)."""
    ramp = np.linspace(0.0, 1.0, 256)
    if name == "Grey":
        return None
    if name == "Inverted grey":
        lut = np.repeat(ramp[::-1, None], 3, axis=1)
    elif name == "Hot":
        lut = np.stack(
            [np.clip(ramp * 3, 0, 1), np.clip(ramp * 3 - 1, 0, 1), np.clip(ramp * 3 - 2, 0, 1)],
            axis=1,
        )
    else:
        import pyqtgraph as pg

        cmap = pg.colormap.get(name.lower())
        return cmap.getLookupTable(0.0, 1.0, 256, alpha=False)
    return (lut * 255).astype(np.uint8)


def format_value(value: np.ndarray | float) -> str:
    array = np.asarray(value)
    if array.ndim:  # a colour pixel
        return " ".join(_format_scalar(v) for v in array.ravel()[:4])
    return _format_scalar(array)


def _format_scalar(v: object) -> str:
    number = float(v)  # type: ignore[arg-type]
    if number.is_integer() and abs(number) < 1e7:
        return str(int(number))
    return f"{number:.4g}"


# Right-drag window/level: a drag this long spans the item's whole intensity range (3D Slicer
# scales its drag by the range the same way).
DRAG_SPAN_PIXELS = 500.0


def window_rounding(image: Image, span: float) -> tuple[float, int]:
    """(step, decimals) that window/level values are rounded to and shown with: a thousandth
    of the item's intensity range, whole numbers for integer images ("W 400  L 40" for CT,
    "W 0.352  L 0.500" for a 0..1 image, never "W 1e-06")."""
    span = span if span > 0 and np.isfinite(span) else 1.0
    step = float(10.0 ** np.floor(np.log10(span / 1000.0)))
    if np.issubdtype(image.array.dtype, np.integer):
        step = max(step, 1.0)
    return step, max(0, int(-np.floor(np.log10(step))))


def readout_text(
    image: Image, axis: int, index: int, row: int, col: int, progressive: Any = None
) -> str:
    """The pixel readout for (row, col) of the stored plane ``index`` along ``axis``. Voxel
    indices count from 1, as the slice slider does ("axial 10 / 40" and "z 10")."""
    # Item coordinates are the stored plane's (col, row), whatever the mirroring.
    z, y, x = plane_index_to_voxel(image, axis, index, row, col, oriented=False)
    if progressive is not None and not progressive.is_decoded(z):
        value = "not decoded yet"
    else:
        value = format_value(image.array[z, y, x])
    mm = ", ".join(f"{v:.1f}" for v in image.index_to_world((z, y, x)))
    where = f"x {x + 1}  y {y + 1}" + ("" if image.kind == "2d" else f"  z {z + 1}")
    what = "RGB" if image.is_rgb else "value"
    return f"{where}   ({mm}) mm   {what} {value}"
