"""Which library decodes one DICOM frame, per transfer syntax, fastest first.

Measured per 512² slice on a 2-core machine (``bench/load_dicom.py`` for whole series; one
heavily loaded run, so ratios matter): JPEG Lossless SV1 imagecodecs 3.9 ms, GDCM 9.8,
pylibjpeg 32; JPEG-LS 5.9 / 10.7 / 33.8; JPEG baseline 1.1 / 2.6 / 5.9; JPEG 2000 lossless
57 / 46 / 65; RLE pylibjpeg-rle 0.9 ms against pydicom's own 6.7 ms.

* imagecodecs (libjpeg-turbo 3 for every JPEG process including lossless Process 14, CharLS
  for JPEG-LS, OpenJPEG for JPEG 2000) is 2.5x faster than GDCM and 8x faster than pylibjpeg
  for the JPEG family, and it releases the GIL, so decoding threads overlap.
* JPEG 2000 lossless: python-gdcm (both wrap OpenJPEG; 300 x 512², interleaved with
  SimpleITK in one process on a heavily loaded machine: GDCM 18.7 s, imagecodecs 23.4 s,
  SimpleITK 19.3 s). JPEG 2000 lossy: imagecodecs (2.0 s, GDCM 3.6 s, SimpleITK 6.2 s).
  Both are default dependencies; each is the next choice when the other is missing.
* RLE and uncompressed data are cheaper than any codec call: pydicom's own pipeline with
  pylibjpeg-rle, and ``np.frombuffer`` on the bytes.
* python-gdcm and pylibjpeg stay usable (``MEDVIEW_DICOM_DECODER=gdcm|pylibjpeg|pydicom``) and
  pydicom's ``pixel_array`` remains the fallback for anything the fast path does not take
  (colour, palette, odd bit depths, a codestream a codec refuses).

On a CUDA machine with nvImageCodec installed, :mod:`medview.io.gpu_decode` may take JPEG,
JPEG Lossless and JPEG 2000 frames of a series instead, where a probe measures it faster and
identical; the choice here stays the CPU one and is its fallback.

A decoder returns the frame's *stored* values exactly as ``pydicom``'s ``pixel_array`` does
(tests compare them pixel for pixel); rescaling is the caller's job.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

JPEG_BASELINE = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
JPEG_LOSSLESS = {"1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"}
JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
JPEG_2000 = {
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K lossless RPCL
    "1.2.840.10008.1.2.4.203",  # HTJ2K
}
RLE = "1.2.840.10008.1.2.5"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
BACKENDS = ("imagecodecs", "gdcm", "pylibjpeg", "pydicom")

# A frame decoder: (codestream bytes, header) -> stored values (rows, cols).
FrameDecoder = Callable[[bytes, Any], np.ndarray]

_available: dict[str, bool] = {}


def available(backend: str) -> bool:
    """Whether ``backend``'s library imports here (cached: an import is a few ms)."""
    if backend not in _available:
        module = {"imagecodecs": "imagecodecs", "gdcm": "gdcm", "pylibjpeg": "pylibjpeg"}
        try:
            if backend in module:
                __import__(module[backend])
            _available[backend] = backend == "pydicom" or backend in module
        except Exception:  # a broken binary wheel is as good as none
            _available[backend] = False
    return _available[backend]


def forced_backend() -> str | None:
    """``MEDVIEW_DICOM_DECODER``: one backend for everything (benchmarks, a broken codec)."""
    name = os.environ.get("MEDVIEW_DICOM_DECODER", "").strip().lower()
    return name if name in BACKENDS else None


def releases_gil(backend: str) -> bool:
    """Whether threads decoding with ``backend`` run in parallel (pylibjpeg holds the GIL)."""
    return backend in ("imagecodecs", "gdcm")


def choose_backend(syntax: str) -> str:
    """The backend for a transfer syntax: forced, else the fastest one installed."""
    forced = forced_backend()
    if syntax == RLE and forced in (None, "imagecodecs") and available("pylibjpeg"):
        return "pylibjpeg"  # pylibjpeg-rle: 0.9 ms a 512² slice against pydicom's own 6.7 ms
    if forced and available(forced):
        return forced
    if syntax == J2K_LOSSLESS and available("gdcm"):
        return "gdcm"  # lossless JPEG 2000 only: GDCM measured faster there, slower on lossy
    if (syntax in JPEG_BASELINE | JPEG_LOSSLESS | JPEG_LS | JPEG_2000) and available("imagecodecs"):
        return "imagecodecs"
    if syntax in JPEG_BASELINE | JPEG_LOSSLESS | JPEG_LS | JPEG_2000 and available("gdcm"):
        return "gdcm"  # faster than pylibjpeg, and it releases the GIL
    return "pydicom"  # pydicom picks its own plugin (pylibjpeg, then the others)


def frame_decoder(syntax: str, backend: str) -> FrameDecoder | None:
    """A direct codec call for single-channel frames of ``syntax``, or None when the frame
    must go through pydicom's pipeline (the backend is a pydicom plugin, or the syntax is not
    one imagecodecs decodes)."""
    if backend != "imagecodecs":
        return None
    import imagecodecs

    if syntax in JPEG_BASELINE or syntax in JPEG_LOSSLESS:
        return lambda data, _header: imagecodecs.jpeg8_decode(data)
    if syntax in JPEG_LS:
        return lambda data, _header: imagecodecs.jpegls_decode(data)
    if syntax in JPEG_2000:
        return lambda data, _header: imagecodecs.jpeg2k_decode(data)
    return None


def pydicom_plugin(backend: str) -> str:
    """The ``decoding_plugin`` name pydicom knows ("" lets pydicom choose)."""
    return backend if backend in ("gdcm", "pylibjpeg") else ""


def as_stored(decoded: np.ndarray, ds: Any, bits_allocated: int) -> np.ndarray:
    """A codec's output as pydicom's ``pixel_array`` gives it: the dtype that Bits Allocated
    and Pixel Representation say, and signed values sign-extended from Bits Stored (codecs
    return the unsigned bit pattern of signed samples)."""
    signed = _us(ds, 0x00280103, 0) == 1  # PixelRepresentation
    itemsize = max(1, bits_allocated // 8)
    dtype = np.dtype(f"{'i' if signed else 'u'}{itemsize}")
    if decoded.dtype.itemsize != itemsize:
        decoded = decoded.astype(np.dtype(f"u{itemsize}"))
    array = decoded.view(dtype) if decoded.dtype != dtype else decoded
    stored = _us(ds, 0x00280101, bits_allocated) or bits_allocated  # BitsStored
    if signed and stored < itemsize * 8:
        shift = itemsize * 8 - stored
        array = (array << shift) >> shift
    return array


def _us(ds: Any, tag: int, default: int) -> int:
    """An unsigned short element's value without pydicom's conversion machinery (a few
    hundred microseconds a slice under load): the raw little-endian bytes when the element
    was not converted yet, else its value."""
    element = ds._dict.get(tag)
    if element is None:
        return default
    raw = getattr(element, "value", None)
    if isinstance(raw, bytes | bytearray) and len(raw) >= 2 and ds.is_little_endian:
        return int.from_bytes(raw[:2], "little")
    try:
        return int(ds[tag].value)
    except (TypeError, ValueError, KeyError):
        return default
