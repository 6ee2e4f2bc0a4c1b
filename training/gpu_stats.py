"""GPU figures for each epoch's history row, on CUDA only: the peak memory allocated
(``torch.cuda.max_memory_allocated``, reset at the start of the epoch) and, where NVML is
installed (``pynvml`` from the nvidia-ml-py package), the mean GPU utilisation sampled every
half second during the epoch. Without NVML the utilisation is left out, not guessed; on
other devices both are absent and history.csv has no GPU columns.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from typing import Any

import torch

SAMPLE_SECONDS = 0.5


def _nvml_handle(device: torch.device, nvml: Any = None) -> tuple[Any, Any]:
    """(the pynvml module, the device's handle), or (None, None) without NVML."""
    try:
        if nvml is None:
            nvml = importlib.import_module("pynvml")  # optional: nvidia-ml-py
        nvml.nvmlInit()
        index = device.index if device.index is not None else torch.cuda.current_device()
        return nvml, nvml.nvmlDeviceGetHandleByIndex(index)
    except Exception:  # not installed, no driver, no permission: the column is omitted
        return None, None


class EpochGpuStats:
    """``start()`` before an epoch, ``stop()`` after it: {column: value} for the history."""

    def __init__(self, device: torch.device, cuda: Any = None, nvml: Any = None) -> None:
        self.device = device
        self.on = device.type == "cuda"
        self.cuda = cuda if cuda is not None else torch.cuda
        pair: tuple[Any, Any] = _nvml_handle(device, nvml) if self.on else (None, None)
        self.nvml, self.handle = pair
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            with contextlib.suppress(Exception):
                rates = self.nvml.nvmlDeviceGetUtilizationRates(self.handle)
                self.samples.append(float(rates.gpu))

    def start(self) -> None:
        if not self.on:
            return
        self.cuda.reset_peak_memory_stats(self.device)
        if self.handle is not None:
            self.samples, self._stop = [], threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def stop(self) -> dict[str, float]:
        if not self.on:
            return {}
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        out = {"gpu_peak_memory_mb": round(self.cuda.max_memory_allocated(self.device) / 2**20, 1)}
        if self.samples:
            out["gpu_utilization"] = round(sum(self.samples) / len(self.samples), 1)
        return out
