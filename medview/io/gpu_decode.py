"""Optional GPU decoding of compressed DICOM frames with NVIDIA nvImageCodec.

Used for JPEG baseline, JPEG Lossless and JPEG 2000 frames of a series
(:mod:`medview.io.dicom_volume`) only when all of these hold:

* the package is installed (``pip install 'medview[gpu]'``:
  ``nvidia-nvimgcodec-cu12[nvjpeg,nvjpeg2k]``; the cu13 build works the same), looked up
  only when a frame of such a syntax is first decoded, so start-up imports nothing;
* a CUDA device takes a GPU-only decoder (nvImageCodec's own CPU codecs are left out: the CPU
  path is medview's, :mod:`medview.io.dicom_codecs`);
* for that transfer syntax, a one-off probe on the first frame decoded gives the same values
  as the CPU decoder (lossy syntaxes: within 1, as two conforming decoders may differ) and,
  best of three, in less time. The verdict is kept for the process.

``MEDVIEW_GPU_DECODE``: ``0`` (or ``off``) never uses the GPU; ``1`` (or ``on``) uses it
wherever it is available and decodes the probe frame identically, without timing it; unset
(``auto``) times it. A frame the GPU fails on is decoded on the CPU, and the caller warns.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from medview.io.common import describe
from medview.io.dicom_codecs import JPEG_2000, JPEG_BASELINE, JPEG_LOSSLESS

MODULE = "nvidia.nvimgcodec"
GPU_SYNTAXES = frozenset(JPEG_BASELINE | JPEG_LOSSLESS | JPEG_2000)
# Lossy codestreams define values only up to the decoder's arithmetic: +-1 between two
# conforming decoders is expected; anything more means the GPU decoder is not to be trusted.
LOSSY = frozenset(JPEG_BASELINE | {"1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203"})
PROBE_RUNS = 3

_lock = threading.Lock()
_probe_lock = threading.Lock()  # one probe at a time; others wait for its verdict
_reason: list[str | None] = []  # [why the GPU is unavailable, or None] once checked
_module: Any = None
_local = threading.local()  # one decoder per thread: nvImageCodec's decoders are not shared
_generation = 0  # bumped by reset(): a thread's decoder of an older module is made again
_choices: dict[str, bool] = {}  # transfer syntax -> the GPU decodes it
_probes: dict[str, dict[str, Any]] = {}  # transfer syntax -> what the probe measured


def mode() -> str:
    """``off``, ``on`` or ``auto`` from ``MEDVIEW_GPU_DECODE``."""
    value = os.environ.get("MEDVIEW_GPU_DECODE", "").strip().lower()
    if value in ("0", "off", "no", "false", "cpu"):
        return "off"
    if value in ("1", "on", "yes", "true", "gpu", "force"):
        return "on"
    return "auto"


def unavailable_reason() -> str | None:
    """Why the GPU path is not used here (None when it may be): turned off, the package is
    missing or broken, or no CUDA device takes a decoder. Checked once per process."""
    if mode() == "off":
        return "turned off (MEDVIEW_GPU_DECODE=0)"
    with _lock:
        if not _reason:
            _reason.append(_check())
        return _reason[0]


def _check() -> str | None:
    global _module
    try:
        module = _load_module()
    except ModuleNotFoundError:
        return "nvImageCodec is not installed (pip install 'medview[gpu]')"
    except Exception as exc:  # a broken binary wheel is as good as none
        return f"nvImageCodec does not import ({describe(exc)})"
    try:
        _new_decoder(module)
    except Exception as exc:  # no driver, no device: "CUDA Runtime failure: '#35'"
        return f"no CUDA device for nvImageCodec ({describe(exc)})"
    _module = module
    return None


def _load_module() -> Any:
    """The nvImageCodec module, imported only now; ModuleNotFoundError when it is absent."""
    if MODULE in sys.modules:
        module = sys.modules[MODULE]
        if module is None:  # hidden on purpose (tests, benches)
            raise ModuleNotFoundError(MODULE)
        return module
    try:
        spec = importlib.util.find_spec(MODULE)
    except (ImportError, ValueError):  # no "nvidia" package at all
        spec = None
    if spec is None:
        raise ModuleNotFoundError(MODULE)
    return importlib.import_module(MODULE)


def _new_decoder(module: Any) -> Any:
    kinds = module.BackendKind
    backends = [module.Backend(kinds.GPU_ONLY), module.Backend(kinds.HW_GPU_ONLY)]
    return module.Decoder(backends=backends)


def decode(data: bytes) -> np.ndarray:
    """One codestream decoded on the GPU and copied back: its samples as stored, (rows, cols)
    for a grey frame. Raises on any failure (the caller decodes on the CPU then)."""
    module = _module
    if module is None:
        raise RuntimeError("the GPU decoder is not available")
    decoder = getattr(_local, "decoder", None)
    if decoder is None or getattr(_local, "generation", None) != _generation:
        decoder = _local.decoder = _new_decoder(module)
        _local.generation = _generation
    params = module.DecodeParams(
        apply_exif_orientation=False,
        color_spec=module.ColorSpec.UNCHANGED,
        allow_any_depth=True,  # 12- and 16-bit samples as they are, not scaled to 8 bits
    )
    image = decoder.decode(module.CodeStream(data), params=params)
    host = image.cpu() if image is not None else None
    if host is None:
        raise ValueError("nvImageCodec could not decode the frame")
    array = np.asarray(host)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return array


def use_gpu(
    syntax: str, gpu_frame: Callable[[], np.ndarray], cpu_frame: Callable[[], np.ndarray]
) -> bool:
    """Whether frames of ``syntax`` go to the GPU. The first call per syntax probes with
    this frame: ``gpu_frame()`` / ``cpu_frame()`` give its stored values each way."""
    if syntax not in GPU_SYNTAXES or unavailable_reason() is not None:
        return False
    with _probe_lock:
        if syntax not in _choices:
            verdict = _probe(syntax, gpu_frame, cpu_frame)
            if verdict is None:
                return False  # this frame is damaged: the next one probes again
            _choices[syntax] = verdict
        return _choices[syntax]


def _probe(
    syntax: str, gpu_frame: Callable[[], np.ndarray], cpu_frame: Callable[[], np.ndarray]
) -> bool | None:
    """The GPU decodes this syntax when it gives the CPU's values, and (``auto``) faster;
    None when the CPU cannot decode the frame either (a damaged file proves nothing)."""
    on_gpu: np.ndarray | None = None
    failure = ""
    try:
        on_gpu = gpu_frame()  # also the warm-up: CUDA context, codec set-up
    except Exception as exc:
        failure = f"the probe frame failed on the GPU ({describe(exc)})"
    try:
        expected = cpu_frame()
    except Exception:
        return None
    record: dict[str, Any] = {"used": False}
    _probes[syntax] = record
    if on_gpu is None:
        record["reason"] = failure
        return False
    if not _same(on_gpu, expected, 1 if syntax in LOSSY else 0):
        record["reason"] = "the GPU's values differ from the CPU decoder's"
        return False
    if mode() == "on":
        record.update(used=True, reason="forced (MEDVIEW_GPU_DECODE=1)")
        return True
    gpu_s, cpu_s = _best_seconds(gpu_frame), _best_seconds(cpu_frame)
    record.update(gpu_ms=round(gpu_s * 1000, 3), cpu_ms=round(cpu_s * 1000, 3))
    record["used"] = gpu_s < cpu_s
    record["reason"] = "faster than the CPU" if record["used"] else "slower than the CPU"
    return bool(record["used"])


def _same(a: np.ndarray, b: np.ndarray, tolerance: int) -> bool:
    if a.shape != b.shape:
        return False
    if tolerance == 0:
        return bool(np.array_equal(a, b))
    return bool(np.abs(a.astype(np.int64) - b.astype(np.int64)).max(initial=0) <= tolerance)


def _best_seconds(frame: Callable[[], np.ndarray], runs: int = PROBE_RUNS) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        frame()
        best = min(best, time.perf_counter() - start)
    return best


def status() -> str | dict[str, Any]:
    """What the benches print: ``"unavailable: <reason>"``, else what each syntax's probe
    measured (``{"used": ..., "gpu_ms": ..., "cpu_ms": ..., "reason": ...}``)."""
    reason = unavailable_reason()
    if reason is not None:
        return f"unavailable: {reason}"
    with _probe_lock:
        return {syntax: dict(record) for syntax, record in _probes.items()}


def reset() -> None:
    """Forget every check and probe (tests; a bench comparing settings in one process)."""
    global _module, _generation
    with _lock, _probe_lock:
        _reason.clear()
        _choices.clear()
        _probes.clear()
        _module = None
        _generation += 1
