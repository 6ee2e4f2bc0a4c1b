"""Decode a DICOM series straight into one preallocated volume, with threads, in any order.

Slot ``i`` of the volume is ``paths[i]``. Each slice is read (pydicom parses the header),
decoded by the fastest codec for its syntax (:mod:`medview.io.dicom_codecs`) and rescaled to
real values (HU for CT) into its slot, so peak memory is the volume plus one decoded slice per
thread: no list of slices and no stack at the end.

The order is free: nearest to a *focus* slice first (the window shows the middle slice at
once and fills in around it, and a scroll moves the focus), or plain first-to-last. Threads
are used when the codec releases the GIL (imagecodecs, GDCM); others decode in the calling
thread. There is no process pool: it never won on the measured machines once its start-up
was paid, it leaked processes when its parent was killed, and it re-ran scripts without a
``__main__`` guard in every worker. Threads die with the process and import nothing.

The volume's dtype follows the rules of :func:`medview.io.dicom._assemble` (stored dtype when
no rescale, int16/int32 when the rescale is integral and the values fit, else float32): it
starts from the first decoded slice and widens, once, if a later slice needs it.

Anything this path does not take (multi-frame or colour files, slices of another size) makes
:meth:`SeriesDecoder.run` report ``supported = False``; the caller then uses the per-file
path, which handles everything.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medview.core.errors import ReadError
from medview.io import dicom_codecs, gpu_decode
from medview.io.common import describe
from medview.io.dicom_header import DicomHeader, dcmread_any, header_from_dataset

_log = logging.getLogger(__name__)


class Unsupported(Exception):
    """This file needs the general per-file path (multi-frame, colour, another plane size)."""


def thread_count(backend: str) -> int:
    """``MEDVIEW_DECODE_THREADS``, else one per core (at most 4) for codecs that release the
    GIL and 1 for the others, where a second thread only adds switching."""
    env = os.environ.get("MEDVIEW_DECODE_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    if not dicom_codecs.releases_gil(backend):
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def _integral(value: float) -> bool:
    return float(value).is_integer()


class SeriesDecoder:
    """Decodes ``paths`` into :attr:`volume` (slot i = paths[i]); thread-safe.

    :attr:`headers` and :attr:`errors` fill in per slot; :attr:`state` is 0 (pending),
    1 (decoded), 2 (failed). ``on_slice(index)`` is called from the decoding thread after each
    slot is done (a GUI must hop threads itself)."""

    def __init__(self, paths: Sequence[str], on_slice: Callable[[int], None] | None = None):
        self.paths = [str(p) for p in paths]
        count = len(self.paths)
        self.headers: list[DicomHeader | None] = [None] * count
        self.errors: dict[int, str] = {}
        self.state = np.zeros(count, dtype=np.uint8)
        self.volume: np.ndarray | None = None
        self.supported = True
        self.backend: str | None = None
        self.gpu_used = False  # some frame went to the GPU (medview.io.gpu_decode)
        self.warnings: list[str] = []  # for the image's metadata (a GPU failure on a frame)
        self.on_slice = on_slice
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending = set(range(count))
        self._focus: int | None = None  # None: first to last
        self._cancelled = False
        self._rescaled: bool | None = None  # None until the first slice sets the volume up
        self._threads: list[threading.Thread] = []
        self._cpu_only: set[int] = set()  # slots decoded on the CPU whatever gpu_decode says
        self._active = 0

    # ------------------------------------------------------------------ scheduling
    @property
    def done_count(self) -> int:
        return int(np.count_nonzero(self.state))

    @property
    def complete(self) -> bool:
        return not self._pending and self._active == 0

    def focus(self, index: int) -> None:
        """Decode nearest to ``index`` next (the slice the user looks at)."""
        with self._lock:
            self._focus = int(index)

    def cancel(self) -> None:
        """Stop after the slices being decoded now; the volume stays partly filled."""
        with self._lock:
            self._cancelled = True
            self._pending.clear()
            self._wake.notify_all()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def _take(self) -> int | None:
        with self._lock:
            if self._cancelled or not self.supported or not self._pending:
                return None
            if self._focus is None:
                index = min(self._pending)
            else:
                focus = self._focus
                index = min(self._pending, key=lambda i: (abs(i - focus), i))
            self._pending.discard(index)
            self._active += 1
            return index

    def decode_now(self, index: int, gpu: bool = True) -> None:
        """Decode slot ``index`` in this thread, if nobody has taken it yet (``gpu`` False:
        on the CPU, never paying for a GPU probe here)."""
        with self._lock:
            if index not in self._pending or self._cancelled:
                return
            self._pending.discard(index)
            self._active += 1
            if not gpu:
                self._cpu_only.add(index)
        self._decode_slot(index)

    def run(self, threads: int | None = None, progress: Callable[[int, int], None] | None = None):
        """Decode every slot; returns when all are done. The calling thread decodes too."""
        self._start_first()
        if not self.supported:
            return
        count = threads if threads is not None else thread_count(self.backend or "")
        self.start(count - 1)
        total = len(self.paths)
        while (index := self._take()) is not None:
            self._decode_slot(index)
            if progress:
                progress(self.done_count, total)
        self.wait()
        if progress:
            progress(self.done_count, total)

    def start(self, threads: int) -> None:
        """Decode in ``threads`` background threads (daemon: they never keep a process
        alive, and die with it)."""
        for number in range(max(0, threads)):
            thread = threading.Thread(
                target=self._worker, name=f"medview-dicom-{number}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def start_background(self, threads: int | None = None) -> None:
        """Decode everything in background threads (the window's progressive load)."""
        count = threads if threads is not None else thread_count(self.backend or "")
        self.start(max(1, count))

    def _worker(self) -> None:
        while (index := self._take()) is not None:
            self._decode_slot(index)

    def wait(self, timeout: float | None = None) -> bool:
        for thread in list(self._threads):
            thread.join(timeout)
        with self._lock:
            while self._active:
                if not self._wake.wait(timeout):
                    return False
        return not any(t.is_alive() for t in self._threads)

    def _start_first(self) -> None:
        """Decode the first slot to pick the codec and allocate the volume (focus slot first
        when one is set: it is the one the window shows)."""
        if self.volume is not None or not self.paths:
            return
        index = self._take()
        if index is not None:
            self._decode_slot(index)

    def first_slice(self, index: int) -> None:
        """Decode ``index`` first (it sets the volume up), in this thread. On the CPU: the
        slice the window shows at once must not wait for a CUDA start-up and GPU probe; the
        background threads make that choice on the next slices."""
        self.focus(index)
        self.decode_now(index, gpu=False)

    # ------------------------------------------------------------------ one slot
    def _decode_slot(self, index: int) -> None:
        path = self.paths[index]
        try:
            ds = dcmread_any(path, stop_before_pixels=False)
            header = header_from_dataset(ds, path)
            self.headers[index] = header
            if header.frames != 1 or header.is_colour:
                raise Unsupported
            if self.backend is None:
                self.backend = dicom_codecs.choose_backend(header.transfer_syntax)
            stored = self._decode_frame(ds, header, path, index not in self._cpu_only)
            self._store(index, stored, header)
            state = 1
        except Unsupported:
            with self._lock:
                self.supported = False
            state = 2
        except ReadError as exc:
            self.errors[index] = exc.reason
            state = 2
        except Exception as exc:  # one bad slice never loses the others
            self.errors[index] = describe(exc)
            state = 2
        finally:
            with self._lock:
                self.state[index] = state if "state" in locals() else 2
                self._active -= 1
                self._wake.notify_all()
        if self.on_slice is not None:
            self.on_slice(index)

    def _decode_frame(self, ds: Any, header: DicomHeader, path: str, gpu: bool) -> np.ndarray:
        failure = None
        if gpu and header.compressed and header.transfer_syntax in gpu_decode.GPU_SYNTAXES:
            try:
                stored = self._gpu_frame(ds, header)
            except Exception as exc:
                failure = describe(exc)
            else:
                if stored is not None:
                    return stored
        stored = self._cpu_frame(ds, header)
        if failure is not None:  # the CPU managed: the GPU's trouble is worth a warning
            _log.warning("%s: GPU decode failed (%s); decoded on the CPU", path, failure)
            with self._lock:
                self.warnings.append(
                    f"{Path(path).name}: GPU decode failed ({failure}); decoded on the CPU"
                )
        return stored

    def _gpu_frame(self, ds: Any, header: DicomHeader) -> np.ndarray | None:
        """Stored values decoded on the GPU when :mod:`medview.io.gpu_decode` takes this
        syntax here, else None; raises when the GPU fails on this frame."""

        def on_gpu() -> np.ndarray:
            decoded = gpu_decode.decode(_single_frame(ds))
            stored = dicom_codecs.as_stored(decoded, ds, header.bits_allocated)
            if stored.shape != (header.rows, header.cols):
                raise ValueError(f"decoded shape {stored.shape}, expected {header.plane_key[:2]}")
            return stored

        if not gpu_decode.use_gpu(
            header.transfer_syntax, on_gpu, lambda: self._cpu_frame(ds, header)
        ):
            return None
        self.gpu_used = True
        return on_gpu()

    def _cpu_frame(self, ds: Any, header: DicomHeader) -> np.ndarray:
        """Stored values of the frame by the CPU codec for its syntax, else pydicom's pipeline."""
        from medview.io import dicom_pixels

        backend = self.backend or "pydicom"
        decoder = dicom_codecs.frame_decoder(header.transfer_syntax, backend)
        refused: Exception | None = None
        if decoder is not None and header.compressed:
            try:
                data = _single_frame(ds)
                stored = dicom_codecs.as_stored(decoder(data, header), ds, header.bits_allocated)
                if stored.shape == (header.rows, header.cols):
                    return stored
            except Exception as exc:
                refused = exc  # a codestream this codec refuses: pydicom's pipeline below
        if not header.compressed:
            array = dicom_pixels.decode_pixels(ds, header)
        else:
            array = dicom_pixels.decode_with_plugin(
                ds, header, dicom_codecs.pydicom_plugin(backend)
            )
        if refused is not None and array.size and array.min() == array.max():
            # pylibjpeg returns a black frame for a damaged codestream instead of failing:
            # a frame the fast codec refused and that comes back blank is the damage.
            raise ValueError(f"damaged compressed pixel data ({describe(refused)})")
        return array.reshape(array.shape[-2:]) if array.ndim == 3 else array

    def _store(self, index: int, stored: np.ndarray, header: DicomHeader) -> None:
        info = header.frame_info[0]
        slope, intercept = float(info.slope), float(info.intercept)
        # The value range, outside the lock: numpy's reductions release the GIL, so threads
        # do this in parallel.
        ends = None
        identity = slope == 1.0 and intercept == 0.0
        if stored.size and stored.dtype.kind in "iu" and (not identity or self._rescaled):
            ends = (float(stored.min()), float(stored.max()))
        with self._lock:
            if self.volume is None:
                self._allocate(stored, slope, intercept, ends)
            volume = self.volume
            assert volume is not None
            if stored.shape != volume.shape[1:]:
                raise Unsupported  # another plane size: the per-file path sorts it out
            target = self._fit_dtype(volume.dtype, stored.dtype, slope, intercept, ends)
            if target != volume.dtype:
                self.volume = volume = volume.astype(target)
            if slope != 1.0 or intercept != 0.0:
                self._rescaled = True
        # The write, outside the lock (slots are disjoint). A thread that widened the volume
        # meanwhile copied the old one, maybe half-written: write again into the new one.
        _write_slice(volume[index], stored, slope, intercept)
        with self._lock:
            if self.volume is not volume:
                _write_slice(self.volume[index], stored, slope, intercept)  # type: ignore[index]

    def _allocate(
        self,
        stored: np.ndarray,
        slope: float,
        intercept: float,
        ends: tuple[float, float] | None,
    ) -> None:
        identity = slope == 1.0 and intercept == 0.0
        self._rescaled = not identity
        if identity:
            dtype = stored.dtype
        elif _integral(slope) and _integral(intercept) and stored.dtype.kind in "iu":
            dtype = self._fit_dtype(np.dtype(np.int16), stored.dtype, slope, intercept, ends)
        else:
            dtype = np.dtype(np.float32)
        self.volume = np.zeros((len(self.paths), *stored.shape), dtype=dtype)

    def _fit_dtype(
        self,
        current: np.dtype,
        stored: np.dtype,
        slope: float,
        intercept: float,
        ends: tuple[float, float] | None,
    ) -> np.dtype:
        """The dtype the volume needs so that this slice fits (never narrower than now),
        by the rules of dicom._assemble; ``ends`` is the slice's stored (min, max)."""
        identity = slope == 1.0 and intercept == 0.0
        if current.kind == "f":
            return current
        if identity:
            if not self._rescaled:
                return np.result_type(current, stored)
            if ends is None and stored.kind in "iu":  # the range was not measured: all of it
                ends = (float(np.iinfo(stored).min), float(np.iinfo(stored).max))
        if not (_integral(slope) and _integral(intercept) and stored.kind in "iu"):
            return np.dtype(np.float32)
        if ends is None:
            return current
        scaled = (ends[0] * slope, ends[1] * slope)
        values = [min(scaled) + intercept, max(scaled) + intercept, slope, intercept]
        if not self._rescaled:  # raw values so far: the rescaled type must hold them too
            values += [float(np.iinfo(current).min), float(np.iinfo(current).max)]
        for candidate in (np.int16, np.int32):
            if np.dtype(candidate).itemsize < current.itemsize and self._rescaled:
                continue
            limits = np.iinfo(candidate)
            if all(limits.min <= v <= limits.max for v in values):
                return np.dtype(candidate)
        return np.dtype(np.float32)


def _write_slice(dst: np.ndarray, stored: np.ndarray, slope: float, intercept: float) -> None:
    """Stored values into ``dst``, rescaled in place like dicom._assemble: integers wrap on
    the way and land exact because the range was checked to fit."""
    np.copyto(dst, stored, casting="unsafe")
    kind = dst.dtype.type
    if slope != 1.0:
        np.multiply(dst, kind(slope), out=dst, casting="unsafe")
    if intercept != 0.0:
        np.add(dst, kind(intercept), out=dst, casting="unsafe")


def _single_frame(ds: Any) -> bytes:
    from pydicom.encaps import generate_frames

    return next(generate_frames(ds.PixelData, number_of_frames=1))
