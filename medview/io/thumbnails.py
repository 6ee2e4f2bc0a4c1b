"""Thumbnails: the middle slice, percentile-normalised, cached as PNG in the project.

Keyed by content hash (and size), so a renamed or re-linked item keeps its thumbnail and two
items with identical content share one. Safe to call from worker threads: files are written
to a temporary name and renamed into place, so a reader never sees half a PNG.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from medview.core.display import CT_SOFT_TISSUE, apply_window, channel_composite, is_ct
from medview.core.image import Image, normalise_for_display

# Bumped when the rendering changes, so old cached thumbnails are not shown any more.
RENDERING_VERSION = 2


def thumbnail_path(project: Any, item: Any, size: int = 128) -> Path:
    key = f"{item.content_hash}_{int(size)}_v{RENDERING_VERSION}"
    if hasattr(project, "cache_file"):  # refuses a crafted hash that is not a plain token
        return Path(project.cache_file("thumbs", key, ".png"))
    return Path(project.cache_dir) / "thumbs" / f"{key}.png"


def thumbnail(project: Any, item: Any, size: int = 128) -> np.ndarray:
    """uint8 (h, w) or (h, w, 3) no larger than ``size`` on its long side. Raises ReadError
    when the item cannot be loaded."""
    from PIL import Image as PILImage

    path = thumbnail_path(project, item, size)
    if path.is_file():
        try:
            with PILImage.open(path) as cached:
                return np.asarray(cached.convert("RGB" if cached.mode != "L" else "L"))
        except Exception:
            pass  # a damaged cache file: rebuild it below
    array = make_thumbnail(_thumbnail_image(project, item), size)
    _write_png(path, array)
    return array


def _thumbnail_image(project: Any, item: Any) -> Image:
    """What the thumbnail shows: for a DICOM series only its middle file is decoded (one
    slice, not the whole series; the window may still be decoding the rest)."""
    from medview.io.readers import load_item

    paths = project.resolve_paths(item) if item.reader == "dicom" else None
    if paths and len(paths) > 1:
        from medview.core.errors import ReadError
        from medview.io import dicom

        try:
            return dicom.read_series([paths[len(paths) // 2]])
        except ReadError:
            pass  # a damaged middle file: the whole series shows the slice beside it
    return load_item(project, item, lazy=True)  # the middle slice is all it reads


def make_thumbnail(image: Image, size: int = 128) -> np.ndarray:
    """The middle slice scaled to fit ``size`` with its physical aspect ratio."""
    from PIL import Image as PILImage

    middle = image.middle_slice()
    if image.channel_names and middle.ndim == 3:
        display = channel_composite(middle)  # microscope channels, each in its colour
    elif middle.ndim == 3 and middle.dtype == np.uint8:
        display = middle  # an RGB photo: keep its colours as they are
    elif is_ct(image):  # the slice view opens CT in soft tissue: the thumbnail matches it
        display = apply_window(middle, *CT_SOFT_TISSUE)
    else:
        display = normalise_for_display(middle)
    height, width = display.shape[:2]
    # Pixels are not always square (PixelSpacing 0.5 x 1.0): show the true proportions.
    physical_h = height * float(image.spacing[1])
    physical_w = width * float(image.spacing[2])
    scale = size / max(physical_h, physical_w, 1e-9)
    out_h = max(1, min(size, round(physical_h * scale)))
    out_w = max(1, min(size, round(physical_w * scale)))
    picture = PILImage.fromarray(np.ascontiguousarray(display))
    picture = picture.resize((out_w, out_h), PILImage.Resampling.BILINEAR)
    return np.asarray(picture)


def _write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image as PILImage

    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        PILImage.fromarray(array).save(temp, format="PNG")
        os.replace(temp, path)
    except OSError:
        # A read-only project still shows thumbnails, it just cannot cache them; a full disk
        # must not leave the half-written temporary file behind.
        with contextlib.suppress(OSError):
            os.unlink(temp)
