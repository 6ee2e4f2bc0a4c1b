"""Display defaults shared by the slice view and the thumbnails (pure numpy).

A volume in Hounsfield units shown with a percentile window spends most of its grey range on
air and leaves all soft tissue white, so CT-like data starts in the soft-tissue window.
"""

from __future__ import annotations

import numpy as np

from medview.core.image import Image, normalise_for_display

CT_SOFT_TISSUE = (400.0, 40.0)  # (width, level) in HU


def subsample(array: np.ndarray, target: int) -> np.ndarray:
    """About ``target`` voxels spread evenly over the volume (or the 2D image)."""
    if array.shape[0] > 1:
        step = max(1, int(np.ceil((array.size / target) ** (1 / 3))))
        return array[::step, ::step, ::step]
    step = max(1, int(np.ceil((array.size / target) ** 0.5)))
    return array[:, ::step, ::step]


def looks_like_ct(image: Image) -> bool:
    """A volume in Hounsfield units without a modality tag (NIfTI has none): air at about
    -1000 and nothing beyond dense bone."""
    array = image.array
    if image.kind != "3d" or image.is_rgb or array.dtype.kind not in "if":
        return False
    sample = np.asarray(subsample(array, 200_000), dtype=np.float32)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return False
    low, high = np.percentile(sample, [1, 99.9])
    return bool(-1100 <= low <= -700 and high <= 4000)


def is_ct(image: Image) -> bool:
    modality = str(image.metadata.get("modality", "")).upper()
    return modality == "CT" or (not modality and looks_like_ct(image))


def apply_window(values: np.ndarray, width: float, level: float) -> np.ndarray:
    """Map values through a window (width, level) to uint8."""
    low = level - width / 2.0
    scaled = (np.asarray(values, dtype=np.float32) - low) / max(width, 1e-6)
    return (np.clip(np.nan_to_num(scaled), 0.0, 1.0) * 255.0).astype(np.uint8)


# Fiji's default composite colours, in channel order (then repeated): green, magenta, cyan,
# yellow, red, blue. Green/magenta first: the pair colour-blind readers tell apart.
CHANNEL_COLOURS = np.array(
    [[0, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=np.float32
)


def channel_composite(plane: np.ndarray) -> np.ndarray:
    """A (y, x, c) plane of named microscope channels as one uint8 RGB picture: each channel
    percentile-scaled on its own and added in its colour (how Fiji and napari show them)."""
    out = np.zeros((*plane.shape[:2], 3), dtype=np.float32)
    for index in range(plane.shape[-1]):
        scaled = normalise_for_display(plane[..., index]).astype(np.float32)
        out += scaled[..., None] * CHANNEL_COLOURS[index % len(CHANNEL_COLOURS)]
    return np.clip(out, 0, 255).astype(np.uint8)
