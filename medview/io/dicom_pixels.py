"""DICOM pixel decoding: which decoder, and when to decode in parallel.

Measured on these machines (2 cores, 512 x 512 int16 slices, ``bench/load_dicom.py`` and the
per-slice timings noted here):

* Uncompressed little endian: the pixel bytes *are* the array (``np.frombuffer``); the cost
  is pydicom parsing the header, about 0.5 ms a file.
* JPEG family (baseline, extended, lossless, JPEG-LS): GDCM about 4.6 ms a slice against
  pylibjpeg's 9-11 ms, so GDCM first when python-gdcm is installed.
* JPEG 2000: pylibjpeg (OpenJPEG) 21 ms against GDCM's 30 ms; RLE: pylibjpeg-rle 0.8 ms
  against pydicom's own 2 ms. pylibjpeg holds the GIL (two threads: no gain).

So big JPEG 2000 series (and JPEG ones when GDCM is missing) are decoded by a small process
pool, JPEG ones through GDCM by two threads (GDCM releases the GIL), and uncompressed and
RLE series in the calling thread, where they are already faster than any hand-off (300
slices: 0.15 s uncompressed against SimpleITK's 0.24 s); see ``_strategy``.

Workers write the decoded frames straight into one shared-memory block the caller owns,
which keeps the parallel path from paying for pickling 150 MB of pixels back through a pipe.
A broken pool (a worker killed, no multiprocessing in a frozen build) falls back to decoding
in the calling thread.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from medview.core.errors import ReadError
from medview.io import dicom
from medview.io.common import describe

_JPEG_FAMILY = {
    "1.2.840.10008.1.2.4.50",  # baseline 8 bit
    "1.2.840.10008.1.2.4.51",  # extended 12 bit
    "1.2.840.10008.1.2.4.57",  # lossless
    "1.2.840.10008.1.2.4.70",  # lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near lossless
}

_RLE = "1.2.840.10008.1.2.5"

# Below this many files a JPEG/J2K series decodes in this thread: the pool's hand-off costs
# more. Uncompressed series always decode here: at about 0.45 ms of CPU a file (header parse)
# the pool's hand-off and copy cost as much as they save, and they lose outright whenever
# the other core is busy (training in the background).
PARALLEL_MIN_FILES_COMPRESSED = 16
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()
_has_gdcm: bool | None = None


def _plugins_for(syntax: str) -> list[str]:
    """Decoder plugins to try, fastest first ("" = pydicom's own choice)."""
    global _has_gdcm
    forced = os.environ.get("MEDVIEW_DICOM_DECODER")
    if forced:
        return [forced, ""]
    if syntax in _JPEG_FAMILY:
        if _has_gdcm is None:
            try:
                import gdcm  # noqa: F401

                _has_gdcm = True
            except Exception:
                _has_gdcm = False
        if _has_gdcm:
            return ["gdcm", ""]
    return [""]


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
    from pydicom.pixels import pixel_array

    plugins = _plugins_for(header.transfer_syntax) if header.compressed else [""]
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


# ================================================================ the process pool
def _worker_count() -> int:
    env = os.environ.get("MEDVIEW_DECODE_WORKERS")
    if env is not None:
        try:
            return max(0, int(env))
        except ValueError:
            return 0
    return min(4, os.cpu_count() or 1)


def _get_pool(workers: int) -> ProcessPoolExecutor | None:
    global _pool
    with _pool_lock:
        if _pool is None:
            import multiprocessing

            context: multiprocessing.context.BaseContext
            try:
                if sys.platform.startswith("linux") and not getattr(sys, "frozen", False):
                    # forkserver: workers fork from a clean pre-imported server, never from
                    # the (threaded) GUI process; spawn elsewhere and in frozen builds, where
                    # freeze_support() is what PyInstaller supports.
                    context = multiprocessing.get_context("forkserver")
                    context.set_forkserver_preload(["medview.io.dicom_pixels"])
                else:
                    context = multiprocessing.get_context("spawn")
                _pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
                atexit.register(shutdown_pool)
            except Exception:
                return None
        return _pool


def shutdown_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None


def _decode_into(
    jobs: list[tuple[int, str]], shm_name: str, slot_bytes: int
) -> list[tuple[int, Decoded, tuple[str, tuple[int, ...]] | None]]:
    """Worker: decode files; a frame block of the expected size goes into its slot of the
    shared memory (then only its dtype and shape travel back), anything else is returned."""
    from multiprocessing import shared_memory

    shm = shared_memory.SharedMemory(name=shm_name)
    try:
        results = []
        for slot, path in jobs:
            decoded = decode_file(path)
            layout = None
            array = decoded.array
            if array is not None and array.nbytes == slot_bytes:
                target = np.ndarray(array.shape, array.dtype, shm.buf, slot * slot_bytes)
                target[...] = array
                del target
                layout = (array.dtype.str, tuple(array.shape))
                decoded.array = None
            results.append((slot, decoded, layout))
        return results
    finally:
        shm.close()


class DecodedSeries:
    """Decoded files; arrays may be views into shared memory, released by :meth:`close`."""

    def __init__(self, files: list[Decoded], shm: Any = None) -> None:
        self.files = files
        self._shm = shm

    def close(self) -> None:
        for item in self.files:
            item.array = None
        if self._shm is not None:
            import gc

            gc.collect()  # views into the block must be gone before it can close
            # A caller still holding a view keeps the mapping alive; unlink frees the name.
            with contextlib.suppress(BufferError):
                self._shm.close()
            self._shm.unlink()
            self._shm = None

    def __enter__(self) -> DecodedSeries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _strategy(syntax: str) -> str:
    """How to decode a big series: "threads", "processes" or "serial".

    * JPEG family through GDCM (about 3 ms a slice): GDCM releases the GIL while it decodes,
      so two threads overlap with no start-up or copy cost, and never lose when the other
      core is busy (300 JPEG-LS slices with a busy machine: 0.99 s serial, 0.82 s threaded).
    * JPEG 2000, and JPEG without GDCM (pylibjpeg, 7-20 ms a slice, holds the GIL): the
      process pool nearly halves the time (300 J2K slices: 4.0 s for a pydicom loop, 2.8 s
      here, SimpleITK 3.7 s).
    * RLE (0.8 ms) and uncompressed data: cheaper than any hand-off, so serial.
    """
    if syntax in _JPEG_FAMILY:
        return "threads" if "gdcm" in _plugins_for(syntax) else "processes"
    if syntax in dicom.UNCOMPRESSED or syntax == _RLE:
        return "serial"
    return "processes"


def decode_files(
    paths: Sequence[str],
    first: dicom.DicomHeader | None,
    progress: Callable[[int, int], None] | None = None,
) -> DecodedSeries:
    """Decode files, in parallel for big compressed series (see :func:`_strategy`).
    ``first`` is the first file's header: it picks the strategy and sizes the shared-memory
    slots of the process pool."""
    paths = list(paths)
    workers = _worker_count()
    strategy = _strategy(first.transfer_syntax) if first is not None else "serial"
    if workers > 1 and len(paths) >= PARALLEL_MIN_FILES_COMPRESSED and first is not None:
        if strategy == "processes":
            result = _decode_parallel(paths, first, workers, progress)
            if result is not None:
                return result
        elif strategy == "threads":
            return DecodedSeries(_decode_threaded(paths, workers, progress))
    files = []
    for index, path in enumerate(paths):
        files.append(decode_file(path))
        if progress:
            progress(index + 1, len(paths))
    return DecodedSeries(files)


def _decode_threaded(
    paths: list[str], workers: int, progress: Callable[[int, int], None] | None
) -> list[Decoded]:
    from concurrent.futures import ThreadPoolExecutor

    files: list[Decoded] = []
    # A pool per call: it lives for one series, and callers may be on several threads.
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="medview-dicom") as pool:
        for decoded in pool.map(decode_file, paths):
            files.append(decoded)
            if progress:
                progress(len(files), len(paths))
    return files


def _decode_parallel(
    paths: list[str],
    first: dicom.DicomHeader,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> DecodedSeries | None:
    from multiprocessing import shared_memory

    pool = _get_pool(workers)
    if pool is None:
        return None
    itemsize = max(1, first.bits_allocated // 8)
    samples = 3 if first.is_colour else 1
    slot_bytes = first.frames * first.rows * first.cols * samples * itemsize
    try:
        shm = shared_memory.SharedMemory(create=True, size=max(1, slot_bytes * len(paths)))
    except OSError:
        return None  # /dev/shm too small: decode here instead
    jobs = list(enumerate(paths))
    size = max(1, math.ceil(len(jobs) / (workers * 4)))
    chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    files: list[Decoded | None] = [None] * len(paths)
    done = 0
    try:
        futures = [pool.submit(_decode_into, chunk, shm.name, slot_bytes) for chunk in chunks]
        for future in futures:
            for slot, decoded, layout in future.result():
                if layout is not None:
                    dtype, shape = layout
                    decoded.array = np.ndarray(shape, np.dtype(dtype), shm.buf, slot * slot_bytes)
                files[slot] = decoded
                done += 1
            if progress:
                progress(done, len(paths))
    except Exception:
        # A worker died or the pool cannot start here (a frozen build without multiprocessing
        # support): release the block and let the caller decode in this process.
        files = []
        decoded = None
        with contextlib.suppress(BufferError):
            shm.close()
        shm.unlink()
        shutdown_pool()
        return None
    return DecodedSeries([f for f in files if f is not None], shm)
