"""Pure numpy helpers for the slice view: planes, window/level presets, colour maps."""

from __future__ import annotations

import numpy as np

from medview.core.image import Image

AXES = ("axial", "coronal", "sagittal")

# (width, level) in the image's units (Hounsfield units for CT).
PRESETS: dict[str, tuple[float, float]] = {
    "CT soft tissue": (400.0, 40.0),
    "CT lung": (1500.0, -600.0),
    "CT bone": (2500.0, 480.0),
    "CT brain": (80.0, 40.0),
}
AUTO = "Auto (percentile)"
FULL = "Full range"

COLORMAPS = ("Grey", "Inverted grey", "Hot", "Viridis", "Inferno", "Magma")


def plane(image: Image, axis: int, index: int) -> tuple[np.ndarray, tuple[float, float]]:
    """The 2D plane shown for ``axis`` (0 axial, 1 coronal, 2 sagittal) at ``index``.

    Returns the (rows, cols[, c]) array (a view, no copy: scrolling stays fast) and the
    (row, col) pixel size in mm. Coronal and sagittal planes put superior at the top, as
    radiologists expect, so rows run against increasing z when z points superior.
    """
    array = image.array
    sz, sy, sx = image.spacing
    if axis == 0:
        return array[index], (sy, sx)
    data = array[:, index] if axis == 1 else array[:, :, index]
    col_spacing = sx if axis == 1 else sy
    if image.array.shape[0] > 1 and image.direction[2, 0] >= 0:
        data = data[::-1]
    return data, (sz, col_spacing)


def plane_index_to_voxel(
    image: Image, axis: int, index: int, row: int, col: int
) -> tuple[int, int, int]:
    """(z, y, x) voxel of pixel (row, col) in the plane ``plane(image, axis, index)``."""
    if axis == 0:
        return index, row, col
    nz = image.array.shape[0]
    z = nz - 1 - row if nz > 1 and image.direction[2, 0] >= 0 else row
    return (z, index, col) if axis == 1 else (z, col, index)


def axis_length(image: Image, axis: int) -> int:
    return int(image.array.shape[axis])


def percentile_window(image: Image, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """(width, level) covering the low..high percentiles, from a subsample so a 300-slice
    volume costs milliseconds, not a second."""
    array = image.array
    if image.is_rgb:
        array = array[..., :3]
    sample = _subsample(array, 400_000)
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


def _subsample(array: np.ndarray, target: int) -> np.ndarray:
    """About ``target`` voxels spread evenly over the volume (or the 2D image)."""
    if array.shape[0] > 1:
        step = max(1, int(np.ceil((array.size / target) ** (1 / 3))))
        return array[::step, ::step, ::step]
    step = max(1, int(np.ceil((array.size / target) ** 0.5)))
    return array[:, ::step, ::step]


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
    modality = str(image.metadata.get("modality", "")).upper()
    if modality == "CT" or (not modality and looks_like_ct(image)):
        return PRESETS["CT soft tissue"]
    if image.is_rgb and image.array.dtype == np.uint8:
        return 255.0, 127.5
    return auto or percentile_window(image)


def looks_like_ct(image: Image) -> bool:
    """A volume in Hounsfield units without a modality tag (NIfTI has none): air at about
    -1000 and nothing beyond dense bone. A percentile window would spend most of its range
    on air and leave all soft tissue white."""
    array = image.array
    if image.kind != "3d" or image.is_rgb or array.dtype.kind not in "if":
        return False
    sample = np.asarray(_subsample(array, 200_000), dtype=np.float32)
    low, high = np.percentile(sample, [1, 99.9])
    return bool(-1100 <= low <= -700 and high <= 4000)


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
