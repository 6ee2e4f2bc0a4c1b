"""DICOM pixel decoding of one file, and of a series file by file.

The fast path for a whole series is :mod:`medview.io.dicom_volume` (threads, one
preallocated volume, the codec chosen per syntax in :mod:`medview.io.dicom_codecs`). This
module is the general path it falls back to, for anything it does not take (multi-frame,
colour and palette files, slices of mixed sizes): pydicom's pixel pipeline with the plugin
that :mod:`medview.io.dicom_codecs` names, and pydicom's own choice after it.

* Uncompressed little endian: the pixel bytes *are* the array (``np.frombuffer``); the cost
  is pydicom parsing the header, about 0.5 ms a file.
* Everything else: ``pydicom.pixels.pixel_array`` with the preferred plugin, then pydicom's
  own choice (pylibjpeg, GDCM, Pillow, its native RLE decoder).

There is no process pool any more (it leaked processes when its parent was killed and re-ran
scripts without a ``__main__`` guard; threads with GIL-releasing codecs beat it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medview.core.errors import ReadError
from medview.io import dicom, dicom_codecs
from medview.io.common import describe


def decode_pixels(ds: Any, header: dicom.DicomHeader) -> np.ndarray:
    """Stored values as (frames, rows, cols[, 3])."""
    array = _raw_fast_path(ds, header)
    if array is None:
        array = _plugin_decode(ds, header)
        if header.photometric == "PALETTE COLOR":
            from pydicom.pixels import apply_color_lut

            array = apply_color_lut(array, ds)
        array = np.asarray(array)
    colour = array.shape[-1] in (3, 4) and header.is_colour
    if colour:
        array = array[..., :3]
    if array.ndim - (1 if colour else 0) == 2:
        array = array[np.newaxis]
    return array


def _plugin_decode(ds: Any, header: dicom.DicomHeader) -> np.ndarray:
    plugin = ""
    if header.compressed:
        plugin = dicom_codecs.pydicom_plugin(dicom_codecs.choose_backend(header.transfer_syntax))
    return decode_with_plugin(ds, header, plugin)


def decode_with_plugin(ds: Any, header: dicom.DicomHeader, plugin: str) -> np.ndarray:
    """pydicom's pixel_array with ``plugin`` first ("" = pydicom's choice), then pydicom's
    choice; a failure names the syntax."""
    from pydicom.pixels import pixel_array

    plugins = [plugin, ""] if plugin else [""]
    for plugin in plugins:
        try:
            return pixel_array(ds, decoding_plugin=plugin)
        except Exception as exc:
            if plugin:
                continue  # a syntax or variant this plugin lacks: try the next
            if not header.compressed:
                raise
            name = dicom.syntax_name(header.transfer_syntax)
            raise ValueError(f"cannot decode the {name} pixel data ({describe(exc)})") from exc
    raise AssertionError("unreachable")


def _raw_fast_path(ds: Any, header: dicom.DicomHeader) -> np.ndarray | None:
    """Uncompressed little-endian grayscale: the pixel bytes are the array. Skipping pydicom's
    generic pixel pipeline here is most of medview's speed on plain CT/MR series."""
    if header.transfer_syntax not in dicom.RAW_LITTLE_ENDIAN or header.samples != 1:
        return None
    if header.bits_allocated not in (8, 16, 32) or "PixelData" not in ds:
        return None
    signed = ds.get("PixelRepresentation", 0) == 1
    dtype = np.dtype(f"{'<i' if signed else '<u'}{header.bits_allocated // 8}")
    count = header.frames * header.rows * header.cols
    data = ds.PixelData
    if len(data) < count * dtype.itemsize:
        raise ValueError(
            f"truncated pixel data ({len(data):,} of {count * dtype.itemsize:,} bytes)"
        )
    array = np.frombuffer(data, dtype=dtype, count=count).reshape(
        header.frames, header.rows, header.cols
    )
    stored = int(ds.get("BitsStored", header.bits_allocated) or header.bits_allocated)
    if stored < header.bits_allocated:
        shift = header.bits_allocated - stored
        if signed:  # sign-extend from BitsStored
            array = (array << shift) >> shift
        else:  # clear unused high bits (old overlay planes live there)
            array = array & np.asarray((1 << stored) - 1, dtype=dtype)
    return array


@dataclass
class Decoded:
    path: str
    header: dicom.DicomHeader | None
    array: np.ndarray | None
    error: str | None


def decode_file(path: str) -> Decoded:
    """Never raises, so one bad file in a batch (or in a worker) cannot lose the others."""
    try:
        ds = dicom.dcmread_any(path, stop_before_pixels=False)
        header = dicom.header_from_dataset(ds, path)
        return Decoded(path, header, decode_pixels(ds, header), None)
    except ReadError as exc:
        return Decoded(path, None, None, exc.reason)
    except Exception as exc:
        return Decoded(path, None, None, describe(exc))


class DecodedSeries:
    """Decoded files, in the order given."""

    def __init__(self, files: list[Decoded]) -> None:
        self.files = files

    def close(self) -> None:
        for item in self.files:
            item.array = None

    def __enter__(self) -> DecodedSeries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode_files(
    paths: Sequence[str],
    first: dicom.DicomHeader | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DecodedSeries:
    """Decode files one by one in this thread (the general path; see the module docstring).
    ``first`` is accepted for older callers and not needed."""
    paths = list(paths)
    files = []
    for index, path in enumerate(paths):
        files.append(decode_file(path))
        if progress:
            progress(index + 1, len(paths))
    return DecodedSeries(files)
