"""PNG/JPG/BMP (Pillow) and TIFF (tifffile): single images and multi-page stacks.

Output follows ``medview.core.image``: (z, y, x) grayscale or (z, y, x, 3) RGB. Alpha is
dropped (composited images are out of scope; a biologist's RGBA PNG is RGB with an unused
alpha). Sizes are checked from the headers before decoding, which also stops decompression
bombs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
        return _tiff_layout(path)
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
            wide = _png16_rawmode(im)
            warnings = []
            if wide:
                try:
                    array = _png16_array(path, wide)
                except Exception as exc:  # a Pillow without this decoder detail
                    wide = None
                    warnings.append(f"16-bit PNG read as 8 bits per sample ({describe(exc)})")
            if not wide:
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
    metadata: dict[str, Any] = {"format": fmt, "mode": mode}
    if wide:
        metadata["bits"] = 16
    if warnings:
        metadata["warnings"] = warnings
    return Image(array, metadata=metadata)


# 16-bit colour (and grey + alpha) PNGs: Pillow has no 16-bit RGB mode and keeps only the
# high byte of each sample. Its PNG decoder (unfiltering, interlace) is fine, though, and
# the unpacker that follows can be pointed at either byte of each big-endian sample.
_PNG16_RAWMODES = ("RGB;16B", "RGBA;16B", "LA;16B")


def _png16_rawmode(im: Any) -> str | None:
    if im.format != "PNG" or len(im.tile) != 1:
        return None
    rawmode = im.tile[0].args
    return rawmode if isinstance(rawmode, str) and rawmode in _PNG16_RAWMODES else None


def _decode_with(path: Path, rawmode: str) -> np.ndarray:
    from PIL import Image as PILImage

    with PILImage.open(path) as im:
        im.tile = [im.tile[0]._replace(args=rawmode)]
        return np.asarray(im)


def _png16_array(path: Path, rawmode: str) -> np.ndarray:
    """The full 16 bits of a colour or grey + alpha PNG as (1, y, x[, 3]) uint16."""
    if rawmode == "LA;16B":
        # 4 bytes a pixel read as 8-bit RGBA: grey high, grey low, alpha high, alpha low.
        quad = _decode_with(path, "RGBA")
        grey = (quad[..., 0].astype(np.uint16) << 8) | quad[..., 1]
        return np.ascontiguousarray(grey)[np.newaxis]
    high = _decode_with(path, rawmode).astype(np.uint16)
    low = _decode_with(path, rawmode.replace(";16B", ";16L"))  # the other byte
    array = (high << 8) | low
    return np.ascontiguousarray(array[..., :3])[np.newaxis]


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
def _tiff_layout(path: Path) -> tuple[tuple[int, ...], dict[str, Any]]:
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
    return plan.shape, plan.metadata()


def _first_series(path: Path, tif: Any) -> tuple[Any, tuple[int, ...], str]:
    """The file's first image series with its shape and axes, its size checked. The axes
    come from the file's OME-XML or ImageJ description when it has one (tifffile's series
    axes: C channels, Z depth, T time, S samples, Y/X the plane)."""
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


# Channels shown at once: the display and the models take grey or RGB.
_SHOWN_CHANNELS = 3


@dataclass
class _TiffPlan:
    """How tifffile's (shape, axes) become medview's (z, y, x[, c])."""

    axes: str
    source_shape: tuple[int, ...]
    index: tuple[Any, ...]  # picks the kept axes from the full array
    order: tuple[int, ...]  # transposes the kept axes to (z, y, x[, c])
    z: int
    channels: int  # in the file (C, or the samples of an RGB plane); 1 when none
    channel_axis: str  # "C", "S" or ""
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def kept_channels(self) -> int:
        """Channels in the output: 1 (grey) or 3 (RGB / a channel composite)."""
        return 1 if self.channels == 1 else _SHOWN_CHANNELS

    @property
    def shape(self) -> tuple[int, ...]:
        y, x = self.source_shape[self.axes.index("Y")], self.source_shape[self.axes.index("X")]
        base = (self.z, y, x)
        return base + ((self.kept_channels,) if self.kept_channels > 1 else ())

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"format": "TIFF", "axes": self.axes}
        if self.channel_axis == "C":
            meta["channels"] = self.channels
        if self.notes:
            meta["notes"] = list(self.notes)
        if self.warnings:
            meta["warnings"] = list(self.warnings)
        return meta


def _tiff_plan(path: Path, shape: tuple[int, ...], axes: str) -> _TiffPlan:
    """Turn tifffile's (shape, axes) into (z, y, x[, c]).

    * Y and X are the plane. Z is the depth; without Z, the non-trivial leading axis nearest
      the plane (I or Q for plain page stacks), but never the channel axis.
    * Channels (C, from OME or ImageJ metadata, or RGB samples S after X) stay channels: one
      is grey, 2 or 3 are shown as red, green (and blue), more than 3 keep the first three
      with a warning naming what is not shown. An OME-TIFF with 3 channels (CYX) is one
      3-channel image, not a 3-slice volume.
    * Other axes (T, a second C...) are cut to their first entry, with a note.
    """
    y_at, x_at, z_at, channel_at = _tiff_axes(path, shape, axes)
    index, order, dropped = _tiff_index(shape, axes, (z_at, y_at, x_at, channel_at))
    channels = shape[channel_at] if channel_at is not None else 1
    plan = _TiffPlan(
        axes=axes,
        source_shape=shape,
        index=index,
        order=order,
        z=shape[z_at] if z_at is not None else 1,
        channels=channels,
        channel_axis=axes[channel_at] if channel_at is not None else "",
    )
    if dropped:
        plan.notes.append(
            f"TIFF with axes {axes} {shape}: showing the first of {', '.join(dropped)}"
        )
    _note_channels(plan)
    return plan


def _tiff_axes(
    path: Path, shape: tuple[int, ...], axes: str
) -> tuple[int, int, int | None, int | None]:
    """Where Y, X, the depth (or None) and the channels (or None) are in tifffile's axes."""
    if len(axes) != len(shape) or "Y" not in axes or "X" not in axes:
        raise ReadError(path, f"TIFF layout {axes} {shape} has no Y/X image plane")
    y_at, x_at = axes.index("Y"), axes.index("X")
    if x_at != y_at + 1:
        raise ReadError(path, f"TIFF layout {axes} {shape} is not supported")
    c_at = next((i for i, a in enumerate(axes) if a == "C" and shape[i] > 1), None)
    s_at = next((i for i in range(x_at + 1, len(shape)) if axes[i] == "S" and shape[i] > 1), None)
    if c_at is not None and s_at is not None:
        # RGB planes with channels on top (rare): keep the RGB samples, first channel.
        c_at = None
    channel_at = c_at if c_at is not None else s_at
    leading = [i for i in range(y_at) if shape[i] > 1 and i != channel_at]
    z_at = None
    if leading:
        z_at = next((i for i in leading if axes[i] == "Z"), leading[-1])
    return y_at, x_at, z_at, channel_at


def _tiff_index(
    shape: tuple[int, ...], axes: str, wanted_axes: tuple[int | None, ...]
) -> tuple[tuple[Any, ...], tuple[int, ...], list[str]]:
    """The index that keeps the wanted axes (the first entry of every other), the transpose
    that puts them in the wanted order, and the axes cut ("T=5")."""
    channel_at = wanted_axes[-1]
    index: list[Any] = []
    kept: list[int] = []
    dropped = []
    for i, size in enumerate(shape):
        if i in wanted_axes:
            keep = slice(0, _SHOWN_CHANNELS) if i == channel_at else slice(None)
            index.append(keep)
            kept.append(i)
        else:
            index.append(0)
            if size > 1:
                dropped.append(f"{axes[i]}={size}")
    order = tuple(kept.index(a) for a in wanted_axes if a is not None)
    return tuple(index), order, dropped


def _note_channels(plan: _TiffPlan) -> None:
    """Say how channels are shown: as colours, or the first three of many (a warning)."""
    channels = plan.channels
    if plan.channel_axis == "S" and channels == 4:
        pass  # RGBA: the alpha is dropped, as for every other format
    elif plan.channel_axis == "C" and channels in (2, 3):
        colours = "red, green" + (" and blue" if channels == 3 else " (blue empty)")
        plan.notes.append(f"{channels} channels (axis C) shown as {colours}")
    elif channels > _SHOWN_CHANNELS:
        plan.warnings.append(
            f"{channels} channels (axis {plan.channel_axis}): showing channels 1-3 as red, "
            f"green and blue; channels 4-{channels} are not shown and not used for training"
        )
    elif plan.channel_axis == "S" and channels == 2:
        plan.notes.append("2 samples per pixel shown as red and green (blue empty)")


def read_tiff(path: str | Path) -> Image:
    import tifffile

    path = Path(path)
    try:
        with tifffile.TiffFile(path) as tif:
            series, shape, axes = _first_series(path, tif)
            plan = _tiff_plan(path, shape, axes)
            data = series.asarray(maxworkers=1)
            spacing = _tiff_spacing(tif)
    except ReadError:
        raise
    except Exception as exc:
        raise ReadError(path, f"cannot read the TIFF file ({describe(exc)})") from exc
    array = np.transpose(np.asarray(data[plan.index]), plan.order)
    if plan.channels > 1 and array.shape[-1] < _SHOWN_CHANNELS:
        # Two channels: a zero third so that the image is an RGB composite.
        pad = [(0, 0)] * (array.ndim - 1) + [(0, _SHOWN_CHANNELS - array.shape[-1])]
        array = np.pad(array, pad)
    array = np.ascontiguousarray(array.reshape(plan.shape))
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.size > max_voxels():  # cannot happen after check_shape; belt and braces
        raise ReadError(path, "image too large")
    return Image(array, spacing=spacing, metadata=plan.metadata())


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
