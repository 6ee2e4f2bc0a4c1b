"""PNG/JPG/BMP (Pillow) and TIFF (tifffile): single images and multi-page stacks.

Output follows ``medview.core.image``: (z, y, x) grayscale or (z, y, x, 3) RGB. Alpha is
dropped (composited images are out of scope; a biologist's RGBA PNG is RGB with an unused
alpha). Sizes are checked from the headers before decoding, which also stops decompression
bombs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medview.core.errors import ReadError
from medview.core.image import Image
from medview.io.common import describe
from medview.io.limits import check_shape, max_voxels

PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
TIFF_SUFFIXES = (".tif", ".tiff")
SUFFIXES = PILLOW_SUFFIXES + TIFF_SUFFIXES


def read_raster(path: str | Path) -> Image:
    path = Path(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        return read_tiff(path)
    return read_pillow(path)


def probe_raster(path: str | Path) -> tuple[tuple[int, ...], dict[str, Any]]:
    """(shape (z, y, x[, c]), metadata) from the header, for scanning. Pillow files are fully
    decoded here too: they are small and a truncated JPEG should be named at import."""
    path = Path(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        shape, axes = _tiff_layout(path)
        return shape, {"format": "TIFF", "axes": axes}
    image = read_pillow(path)
    return tuple(image.array.shape) if image.is_rgb else image.shape, dict(image.metadata)


# ---------------------------------------------------------------------------- Pillow
def read_pillow(path: str | Path) -> Image:
    from PIL import Image as PILImage

    path = Path(path)
    # Pillow's own decompression-bomb guard (MAX_IMAGE_PIXELS) stays as it is: it is global
    # state other parts of the app rely on too. Our ceiling is checked on top of it.
    try:
        with PILImage.open(path) as im:
            width, height = im.size
            bands = len(im.getbands())
            check_shape(path, (height, width, bands))
            fmt = im.format or path.suffix.lstrip(".").upper()
            mode = im.mode
            array = _pillow_array(im)
    except ReadError:
        raise
    except PILImage.DecompressionBombError as exc:
        raise ReadError(
            path, f"image too large: over the limit Pillow sets against decompression bombs ({exc})"
        ) from exc
    except PILImage.UnidentifiedImageError as exc:
        kind = path.suffix.lstrip(".").upper() or "image"
        raise ReadError(path, f"not a valid {kind} file (unrecognised content)") from exc
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError...)
        raise ReadError(path, f"cannot read the image ({describe(exc)})") from exc
    return Image(array, metadata={"format": fmt, "mode": mode})


def _pillow_array(im: Any) -> np.ndarray:
    mode = im.mode
    if mode == "P":  # palette: expand to colour
        im = im.convert("RGB")
        mode = im.mode
    if mode in ("1", "LA", "La"):
        im = im.convert("L")
    elif mode in ("RGBA", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
    elif mode.startswith("I;16"):
        # 16-bit grayscale: keep the full range instead of Pillow's 8-bit conversions.
        return np.asarray(im, dtype=np.uint16)
    array = np.asarray(im)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    array = np.ascontiguousarray(array)
    return array[np.newaxis]


# ---------------------------------------------------------------------------- TIFF
def _tiff_layout(path: Path) -> tuple[tuple[int, ...], str]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series, shape, axes = _first_series(path, tif)
            end = _tiff_data_end(series)
    except ReadError:
        raise
    except Exception as exc:
        raise ReadError(path, f"cannot read the TIFF file ({describe(exc)})") from exc
    size = path.stat().st_size
    if end > size:
        raise ReadError(
            path, f"truncated: the image data runs to byte {end:,}, the file has {size:,}"
        )
    plan = _tiff_plan(path, shape, axes)
    return plan[0], axes


def _first_series(path: Path, tif: Any) -> tuple[Any, tuple[int, ...], str]:
    """The file's first image series with its shape and axes, its size checked."""
    if not tif.series:
        raise ReadError(path, "TIFF file without images")
    series = tif.series[0]
    shape, axes = tuple(int(s) for s in series.shape), str(series.axes)
    check_shape(path, shape)
    return series, shape, axes


def _tiff_data_end(series: Any) -> int:
    """Where the last strip or tile of the series ends, from the page headers alone: a
    truncated TIFF is named at scan time without decoding it."""
    end = 0
    for page in series.pages:
        if page is None:
            continue
        offsets = getattr(page, "dataoffsets", ()) or ()
        counts = getattr(page, "databytecounts", ()) or ()
        for offset, count in zip(offsets, counts, strict=False):
            end = max(end, int(offset) + int(count))
    return end


def _tiff_plan(
    path: Path, shape: tuple[int, ...], axes: str
) -> tuple[tuple[int, ...], tuple[Any, ...], bool]:
    """How to turn tifffile's (shape, axes) into (z, y, x[, c]): the output shape, the index
    that picks it from the full array, and whether extra axes (time, channels) were cut to
    their first entry."""
    if len(axes) != len(shape) or "Y" not in axes or "X" not in axes:
        raise ReadError(path, f"TIFF layout {axes} {shape} has no Y/X image plane")
    y_at, x_at = axes.index("Y"), axes.index("X")
    if x_at != y_at + 1:
        raise ReadError(path, f"TIFF layout {axes} {shape} is not supported")
    leading = [i for i in range(y_at) if shape[i] > 1]
    # One depth axis: Z when present, else the non-trivial leading axis nearest the plane
    # (I for plain page stacks); other leading axes (T, C, ...) are cut to their first entry.
    z_at = None
    if leading:
        z_at = next((i for i in leading if axes[i] == "Z"), leading[-1])
    index: list[Any] = []
    dropped = False
    for i, size in enumerate(shape):
        if i in (y_at, x_at) or i == z_at:
            index.append(slice(None))
        elif i > x_at and axes[i] == "S" and size in (3, 4):
            index.append(slice(0, 3))  # RGB(A): keep RGB
        else:
            index.append(0)
            dropped = dropped or size > 1
    colour = any(axes[i] == "S" and shape[i] in (3, 4) for i in range(x_at + 1, len(shape)))
    z = shape[z_at] if z_at is not None else 1
    out = (z, shape[y_at], shape[x_at]) + ((3,) if colour else ())
    return out, tuple(index), dropped


def read_tiff(path: str | Path) -> Image:
    import tifffile

    path = Path(path)
    try:
        with tifffile.TiffFile(path) as tif:
            series, shape, axes = _first_series(path, tif)
            out_shape, index, dropped = _tiff_plan(path, shape, axes)
            data = series.asarray(maxworkers=1)
            spacing = _tiff_spacing(tif)
    except ReadError:
        raise
    except Exception as exc:
        raise ReadError(path, f"cannot read the TIFF file ({describe(exc)})") from exc
    # The kept axes are already in (z, y, x[, s]) relative order (Z before the plane).
    array = np.asarray(data[index])
    array = np.ascontiguousarray(array.reshape(out_shape))
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    metadata: dict[str, Any] = {"format": "TIFF", "axes": axes}
    if dropped:
        metadata["notes"] = [f"TIFF with axes {axes} {shape}: showing the first of extra axes"]
    if array.size > max_voxels():  # cannot happen after check_shape; belt and braces
        raise ReadError(path, "image too large")
    return Image(array, spacing=spacing, metadata=metadata)


def _tiff_spacing(tif: Any) -> tuple[float, float, float]:
    """ImageJ stacks record the z step and pixel size; use them when present."""
    z = y = x = 1.0
    try:
        ij = tif.imagej_metadata or {}
        if ij.get("spacing"):
            z = float(ij["spacing"])
        page = tif.pages[0]
        tags = page.tags
        if "XResolution" in tags and "YResolution" in tags and ij:
            xr = tags["XResolution"].value
            yr = tags["YResolution"].value
            if xr[0] and yr[0]:
                x = xr[1] / xr[0]
                y = yr[1] / yr[0]
    except Exception:  # spacing is a nicety, never a reason to fail
        return (1.0, 1.0, 1.0)
    return (z if z > 0 else 1.0, y if y > 0 else 1.0, x if x > 0 else 1.0)
