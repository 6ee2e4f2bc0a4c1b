"""How a preprocessed item is stored in the streaming cache: uint8 levels with a per-item
scale and shift where that is as exact as float16 would be, float16 otherwise.

Why the rule "uint8 when its error is no larger than float16's": items decoded from 8-bit
sources (PNG, uint8 NIfTI) at their own size take at most 256 evenly spaced values after the
z-score, and uint8 keeps them (to float32 rounding) in half the bytes of float16; resampled or
continuous data would lose visibly at 8 bits, so it stays float16.

Both training paths (in memory and streamed) train on ``decode(encode(x))``: the in-memory
tensors pass through the same codec, so the two paths see bit-identical inputs and a run gives
the same results whichever path it took.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

CODECS: dict[str, np.dtype[Any]] = {"uint8": np.dtype(np.uint8), "float16": np.dtype(np.float16)}


class Encoded(NamedTuple):
    codec: str  # a key of CODECS
    raw: np.ndarray  # the stored values, dtype CODECS[codec]
    scale: float
    shift: float


def _steps(array: np.ndarray, low: float, high: float) -> int:
    """How many even steps span [low, high] if the values sit on a grid of at most 256
    levels (an 8-bit source after the z-score), judged from a sample; else 255."""
    sample = np.unique(array.reshape(-1)[:: max(1, array.size // 65536)])
    gaps = np.diff(sample)
    gaps = gaps[gaps > (high - low) * 1e-4]
    if not len(gaps):
        return 255
    steps = round((high - low) / float(gaps.min()))
    return steps if 1 <= steps <= 255 else 255


def _levels(array: np.ndarray, low: float, high: float) -> tuple[np.ndarray, float, float]:
    steps = _steps(array, low, high) if high > low else 255
    scale = np.float32((high - low) / steps) if high > low else np.float32(0.0)
    shift = np.float32(low)
    if scale == 0:
        return np.zeros(array.shape, np.uint8), float(scale), float(shift)
    levels = np.rint((array - shift) / scale)
    return np.clip(levels, 0, 255).astype(np.uint8), float(scale), float(shift)


def encode(array: np.ndarray) -> Encoded:
    """A float32 item in the smaller of the two codecs that is as exact as float16."""
    array = np.asarray(array, dtype=np.float32)
    if array.size == 0:
        return Encoded("float16", array.astype(np.float16), 1.0, 0.0)
    low, high = float(array.min()), float(array.max())
    f16_bound = max(abs(low), abs(high)) * 2.0**-11  # float16's worst rounding (half an ulp)
    if _steps(array, low, high) == 255 and (high - low) / 510 > 4 * f16_bound:
        return _half(array)  # continuous values: 8 bits would lose far more than float16
    levels, scale, shift = _levels(array, low, high)
    err_u8 = float(np.abs(decode(levels, "uint8", scale, shift) - array).max())
    if err_u8 <= max(abs(low), abs(high)) * 2.0**-20:
        return Encoded("uint8", levels, scale, shift)  # exact to float32 rounding: 8 bits win
    half = _half(array)
    err_f16 = float(np.abs(half.raw.astype(np.float32) - array).max())  # inf past its range
    return Encoded("uint8", levels, scale, shift) if err_u8 <= err_f16 else half


def _half(array: np.ndarray) -> Encoded:
    with np.errstate(over="ignore"):
        return Encoded("float16", array.astype(np.float16), 1.0, 0.0)


def decode(
    raw: np.ndarray, codec: str, scale: float, shift: float, out: np.ndarray | None = None
) -> np.ndarray:
    """The float32 values of a stored item (into ``out`` when given). One function for both
    paths: the same float32 operations in the same order give bit-identical results."""
    if out is None:
        out = np.empty(raw.shape, np.float32)
    if codec == "uint8":
        np.multiply(raw, np.float32(scale), out=out, dtype=np.float32)
        np.add(out, np.float32(shift), out=out)
    else:
        out[...] = raw
    return out


def roundtrip(array: np.ndarray) -> np.ndarray:
    """What training sees of ``array``: ``decode(encode(array))``."""
    codec, raw, scale, shift = encode(array)
    return decode(raw, codec, scale, shift)
