"""DICOM: find series in folders, order slices, rescale to HU, decode pixels.

Scanning reads each file's header once (``stop_before_pixels``); pixels are decoded only when
an item is loaded. A file that cannot be read is skipped with its reason and never takes the
rest of its series down.

This module holds the public read functions (``read_series``) and the assembly of decoded
frames into an ``Image``. The other DICOM pieces live in their own modules and their names are
re-exported here, so ``medview.io.dicom`` stays the one import for callers:

- :mod:`medview.io.dicom_header`: recognising files and reading one file's header;
- :mod:`medview.io.dicom_series`: grouping headers into series, slice order and geometry;
- :mod:`medview.io.dicom_pixels`: pixel decoding (which decoder, when in parallel).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medview.core.errors import ReadError
from medview.core.image import Image
from medview.io.dicom_header import (
    DICOM_SUFFIXES,
    RAW_LITTLE_ENDIAN,
    UNCOMPRESSED,
    DicomHeader,
    FrameInfo,
    dcmread_any,
    header_from_dataset,
    looks_like_dicom,
    read_header,
    syntax_name,
)
from medview.io.dicom_series import SeriesPlan, SliceRef, group_series, order_slices
from medview.io.limits import check_shape

# Re-exported: readers.py, dicom_pixels.py and older callers import these from here.
__all__ = [
    "DICOM_SUFFIXES",
    "RAW_LITTLE_ENDIAN",
    "UNCOMPRESSED",
    "DicomHeader",
    "FrameInfo",
    "SeriesPlan",
    "SliceRef",
    "dcmread_any",
    "group_series",
    "header_from_dataset",
    "looks_like_dicom",
    "order_slices",
    "read_header",
    "read_series",
    "syntax_name",
]


def read_series(
    paths: Sequence[str | Path],
    progress: Callable[[int, int], None] | None = None,
    name: str | Path | None = None,
) -> Image:
    """Load a series (or one file) from its files. Unreadable files are left out with a
    warning in ``metadata["warnings"]``; only a series with no readable slice is an error."""
    from medview.io import dicom_pixels

    files = [str(p) for p in paths]
    label = name or (files[0] if len(files) == 1 else str(Path(files[0]).parent))
    if not files:
        raise ReadError(label, "no DICOM files")
    try:
        first: DicomHeader | None = read_header(files[0])
    except ReadError:
        first = None  # the first file is bad: the others may not be
    if first is not None:
        # Refuse an absurd series before decoding anything (assumes files alike, as series are).
        samples = 3 if first.is_colour else 1
        check_shape(label, (len(files) * first.frames, first.rows, first.cols, samples), "series")
    if len(files) > 1:
        # The fast path: threads, one preallocated volume (medview.io.dicom_volume).
        image = dicom_volume_read(files, label, progress)
        if image is not None:
            return image
    with dicom_pixels.decode_files(files, first, progress) as decoded:
        return _build_image(decoded.files, label)


def dicom_volume_read(
    paths: list[str], label: str | Path, progress: Callable[[int, int], None] | None
) -> Image | None:
    from medview.io import dicom_volume

    decoder = dicom_volume.SeriesDecoder(paths)
    decoder.run(progress=progress)
    return finish_volume(decoder, label)


def finish_volume(decoder: Any, label: str | Path) -> Image | None:
    """The Image of a fully decoded :class:`~medview.io.dicom_volume.SeriesDecoder`, or None
    when the series needs the per-file path (then nothing of the decoder is used)."""
    if not decoder.supported or decoder.volume is None or not decoder.state.all():
        return None  # the per-file path, or a cancelled decode
    entries = [
        (path, decoder.headers[i], decoder.errors.get(i) if decoder.state[i] != 1 else None)
        for i, path in enumerate(decoder.paths)
    ]
    plan, warnings = _plan_for(entries, label)
    warnings.extend(getattr(decoder, "warnings", ()))  # frames the GPU failed on
    slot = {path: i for i, path in enumerate(decoder.paths)}
    order = []
    for ref in plan.slices:
        index = slot.get(ref.header.path)
        if index is None or ref.frame != 0 or decoder.state[index] != 1:
            return None
        order.append(index)
    array = gather_in_place(decoder.volume, order)
    return _finish(plan, array, warnings)


def gather_in_place(volume: np.ndarray, order: list[int]) -> np.ndarray:
    """``volume[order]`` without a second volume in memory: the permutation is applied in
    place, cycle by cycle, through one slice of scratch. Slots not in ``order`` (skipped
    files) end up past the end and are cut off by the returned view."""
    count = volume.shape[0]
    if order == list(range(len(order))):
        return volume[: len(order)]
    used = set(order)
    source = order + [i for i in range(count) if i not in used]  # new[j] = old[source[j]]
    done = [False] * count
    scratch = np.empty_like(volume[0])
    for start in range(count):
        if done[start] or source[start] == start:
            done[start] = True
            continue
        scratch[...] = volume[start]
        j = start
        while True:
            done[j] = True
            k = source[j]
            if k == start:
                volume[j] = scratch
                break
            volume[j] = volume[k]
            j = k
    return volume[: len(order)]


def _plan_for(
    entries: Sequence[tuple[str, DicomHeader | None, str | None]], label: str | Path
) -> tuple[SeriesPlan, list[str]]:
    """The series to show from (path, header, error) per file, and the warnings to give."""
    warnings: list[str] = []
    headers: list[DicomHeader] = []
    failures: list[tuple[str, str]] = []
    for path, header, error in entries:
        if header is None or error is not None:
            failures.append((path, _failure_reason(path, error)))
            warnings.append(f"skipped {Path(path).name}: {failures[-1][1]}")
            continue
        headers.append(header)
    if not headers:
        if len(entries) == 1:
            raise ReadError(failures[0][0], failures[0][1])
        reasons = "; ".join(w.removeprefix("skipped ") for w in warnings[:3])
        raise ReadError(label, f"no readable DICOM image ({reasons})")
    plans, skipped = group_series(headers)
    plan = max(plans, key=lambda p: len(p.slices))
    if len(plans) > 1:
        warnings.append(f"{len(plans)} series found: showing the largest")
    warnings.extend(f"skipped {Path(p).name}: {r}" for p, r in skipped)
    warnings.extend(plan.warnings)
    return plan, warnings


def _build_image(decoded: Sequence[Any], label: str | Path) -> Image:
    entries = [
        (d.path, d.header, d.error if d.error is not None or d.array is not None else "no image")
        for d in decoded
    ]
    plan, warnings = _plan_for(entries, label)
    arrays = {d.path: d.array for d in decoded if d.header is not None and d.array is not None}
    return _finish(plan, _assemble(plan, arrays), warnings)


def _finish(plan: SeriesPlan, array: np.ndarray, warnings: list[str]) -> Image:
    first = plan.first
    metadata: dict[str, Any] = {
        "format": "DICOM",
        "modality": first.modality,
        "series_description": first.series_description,
        "files": len(plan.headers),
        "transfer_syntax": syntax_name(first.transfer_syntax),
    }
    if first.photometric == "MONOCHROME1":
        array = _invert(array)
        metadata["notes"] = ["MONOCHROME1: values inverted so that bright is high"]
    if warnings:
        metadata["warnings"] = warnings
    return Image(
        array,
        spacing=plan.spacing,
        origin=plan.origin,
        direction=plan.direction,
        metadata=metadata,
    )


def _failure_reason(path: str, error: str | None) -> str:
    """Why a file failed to decode, in the words the import would have used: a truncated
    file half-parses as a header without pixels ("DICOM file without an image"), while the
    header check says what is wrong (expected against actual size)."""
    try:
        read_header(path)
    except ReadError as exc:
        return exc.reason
    except Exception:
        pass
    return str(error)


def _invert(array: np.ndarray) -> np.ndarray:
    """MONOCHROME1 (high = dark) to the usual high = bright, in the array's own range."""
    if array.dtype.kind == "f":
        return (array.max() + array.min()) - array
    total = int(array.max()) + int(array.min())
    return (total - array.astype(np.int64)).astype(array.dtype)


def _assemble(plan: SeriesPlan, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Stack frames in plan order and rescale to real values (HU for CT).

    The result stays integer (int16 when every value fits) when the rescale is an exact
    integer map, which halves memory against float32 for the common CT case."""
    frames = [arrays[r.header.path][r.frame] for r in plan.slices]
    infos = [r.info for r in plan.slices]
    colour = frames[0].ndim == 3
    identity = all(i.slope == 1.0 and i.intercept == 0.0 for i in infos)
    integral = all(
        float(i.slope).is_integer() and float(i.intercept).is_integer() for i in infos
    ) and all(np.issubdtype(f.dtype, np.integer) for f in frames)
    if colour or identity:
        dtype = np.result_type(*[f.dtype for f in frames])
        return np.stack(frames).astype(dtype, copy=False)
    target: Any = np.float32
    if integral:
        low, high = math.inf, -math.inf
        for frame, info in zip(frames, infos, strict=True):
            ends = (float(frame.min()) * info.slope, float(frame.max()) * info.slope)
            low = min(low, min(ends) + info.intercept)
            high = max(high, max(ends) + info.intercept)
        for candidate in (np.int16, np.int32):
            limits = np.iinfo(candidate)
            values = [low, high] + [i.slope for i in infos] + [i.intercept for i in infos]
            if all(limits.min <= v <= limits.max for v in values):
                target = candidate
                break
    out = np.empty((len(frames), *frames[0].shape), dtype=target)
    # In place, one slice at a time: no volume-sized temporaries. Integer results wrap
    # modulo 2^n on the way and land exact because the final range was checked to fit.
    for index, (frame, info) in enumerate(zip(frames, infos, strict=True)):
        dst = out[index]
        np.copyto(dst, frame, casting="unsafe")
        if info.slope != 1.0:
            np.multiply(dst, target(info.slope), out=dst, casting="unsafe")
        if info.intercept != 0.0:
            np.add(dst, target(info.intercept), out=dst, casting="unsafe")
    return out
