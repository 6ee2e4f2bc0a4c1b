"""The automatic batch size (when ``--batch-size`` is not given) and the warm-up timing that
Auto's time estimate comes from.

* CPU: a short throughput probe over powers of two, each bounded by a memory budget and by the
  data set (at least ``MIN_STEPS`` optimizer steps per epoch, so a tiny set is not trained
  with two steps an epoch). The smallest size within 10 % of the best wins: on small sets more
  steps per epoch learn more, and 10 % slower costs little. "Best" is the throughput, or, when
  Auto sets the epochs from the steps per epoch (``epochs_for``), the training time: on a tiny
  set twice the batch means twice the epochs for the same steps, so a size only wins by more
  than doubling the throughput.
* CUDA: the largest size that fits, found by doubling until the GPU runs out of memory (one
  short step each), under the same data-set cap.

The probe only calls ``step(batch_size) -> seconds``, so tests drive it with a fake step (an
out-of-memory above some size, a throughput curve) and the engine with a real training step.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MIN_STEPS = 4  # optimizer steps per epoch the data-set cap keeps at least
MAX_BATCH = {"2d": 256, "3d": 64}
# CPU: the batch size from the data and memory only (no throughput probe: on a shared 2-core
# machine the probe chose batch 4 idle and 8 beside two CPU hogs for the same 3D set, and the
# epochs followed). 32 / 8 are the sizes the probe chose most often on idle 2D / 3D runs, and
# a smaller batch gives a small set more steps per epoch.
CPU_BATCH = {"2d": 32, "3d": 8, "slices": 32}
CPU_TOLERANCE = 0.9  # the smallest size with >= 90 % of the best throughput is chosen
CPU_STOP = 0.7  # stop probing once throughput falls below 70 % of the best seen


@dataclass
class BatchChoice:
    batch_size: int
    reason: str
    samples_per_second: dict[int, float] = field(default_factory=dict)
    per_sample_bytes: int | None = None
    budget_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "reason": self.reason,
            "samples_per_second": {str(k): round(v, 2) for k, v in self.samples_per_second.items()},
            "per_sample_bytes": self.per_sample_bytes,
            "budget_bytes": self.budget_bytes,
        }


def available_memory() -> int | None:
    """Bytes the probe may plan for on the CPU: half of MemAvailable (Linux), else half the
    physical memory; None where the OS does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (AttributeError, ValueError, OSError):
        return None


def physical_memory() -> int | None:
    """Bytes the CPU batch size may plan for: a quarter of the physical memory (not of what
    is free now, which other processes change from run to run)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (AttributeError, ValueError, OSError):
        return None


def cpu_batch_size(
    n_train: int, kind: str, per_sample_bytes: int | None, budget_bytes: int | None
) -> BatchChoice:
    """CPU: CPU_BATCH for the kind, under the data-set and memory caps (no timing)."""
    cap, why_cap = batch_cap(n_train, kind, per_sample_bytes, budget_bytes)
    size = min(cap, CPU_BATCH.get(kind, 32))
    reason = (
        f"CPU: {CPU_BATCH.get(kind, 32)} for {kind} items, within the cap {cap} ({why_cap}); "
        "no throughput probe, so a busy machine gets the same plan"
    )
    return BatchChoice(size, reason, {}, per_sample_bytes, budget_bytes)


def data_cap(n_train: int, kind: str) -> int:
    """The largest power of two that still gives MIN_STEPS steps per epoch (at least 2)."""
    limit = max(2, n_train // MIN_STEPS)
    size = 2
    while size * 2 <= min(limit, MAX_BATCH.get(kind, 256)):
        size *= 2
    return size


def _powers(low: int, high: int) -> list[int]:
    out, size = [], low
    while size <= high:
        out.append(size)
        size *= 2
    return out or [high]


def choose_batch_size(
    step: Callable[[int], float],
    *,
    device_type: str,
    n_train: int,
    kind: str,
    per_sample_bytes: int | None = None,
    budget_bytes: int | None = None,
    is_oom: Callable[[BaseException], bool] | None = None,
    epochs_for: Callable[[int], int] | None = None,
) -> BatchChoice:
    """Probe ``step`` (one training step at a batch size, returns its seconds).
    ``epochs_for(batch_size)``: the epochs a run would get at that size (Auto's epochs follow
    the steps per epoch); None: the same at every size."""
    cap, why_cap = batch_cap(n_train, kind, per_sample_bytes, budget_bytes)
    candidates = _powers(min(4, cap), cap)
    if device_type == "cuda":
        choice = _probe_cuda(step, candidates, is_oom, f"cap {cap}, {why_cap}")
    else:
        choice = _probe_cpu(step, candidates, f"cap {cap} ({why_cap})", epochs_for)
    choice.per_sample_bytes, choice.budget_bytes = per_sample_bytes, budget_bytes
    return choice


def batch_cap(
    n_train: int, kind: str, per_sample_bytes: int | None, budget_bytes: int | None
) -> tuple[int, str]:
    """The largest batch size worth probing, and why: the data set, or the memory budget."""
    cap = data_cap(n_train, kind)
    why = f"data set: >= {MIN_STEPS} steps per epoch on {n_train} training items"
    if per_sample_bytes and budget_bytes:
        by_memory = max(1, budget_bytes // per_sample_bytes)
        if by_memory < cap:
            cap = max(1, 2 ** (by_memory.bit_length() - 1))
            why = (
                f"memory: {per_sample_bytes / 2**20:.1f} MiB per sample, "
                f"{budget_bytes / 2**20:.0f} MiB budget"
            )
    return cap, why


def _probe_cuda(
    step: Callable[[int], float],
    candidates: list[int],
    is_oom: Callable[[BaseException], bool] | None,
    why_cap: str,
) -> BatchChoice:
    """The largest candidate whose step does not run out of GPU memory."""
    rates: dict[int, float] = {}
    fitted = None
    for size in candidates:
        try:
            step(size)  # warm-up (cuDNN picks kernels), then the measured step
            rates[size] = size / max(step(size), 1e-9)
            fitted = size
        except BaseException as exc:
            if is_oom is None or not is_oom(exc):
                raise
            break
    if fitted is None:
        return BatchChoice(1, "even the smallest probe ran out of GPU memory", rates)
    reason = f"CUDA: the largest size that fits ({why_cap})"
    if fitted < candidates[-1]:
        reason = f"CUDA: the largest size that fits in GPU memory ({fitted * 2} did not)"
    return BatchChoice(fitted, reason, rates)


def _probe_cpu(
    step: Callable[[int], float],
    candidates: list[int],
    why_cap: str,
    epochs_for: Callable[[int], int] | None = None,
) -> BatchChoice:
    """Throughput per candidate; the smallest within CPU_TOLERANCE of the best wins (of the
    shortest training, epochs / throughput, when ``epochs_for`` is given)."""
    rates: dict[int, float] = {}
    best = 0.0
    for size in candidates:
        step(size)  # warm-up: allocator and oneDNN kernel caches
        rate = size / max(min(step(size), step(size)), 1e-9)
        rates[size] = rate
        best = max(best, rate)
        if rate < CPU_STOP * best:
            break
    # A second pass in reverse order, each size keeping its better rate: on a shared machine
    # a burst of load during one size's steps would otherwise decide the choice.
    for size in reversed(list(rates)):
        rates[size] = max(rates[size], size / max(step(size), 1e-9))
    best = max(rates.values())
    if epochs_for is None:
        chosen = min(s for s, r in rates.items() if r >= CPU_TOLERANCE * best)
        why = f"within {1 - CPU_TOLERANCE:.0%} of the best ({best:.1f} samples/s)"
    else:
        cost = {s: epochs_for(s) / r for s, r in rates.items()}  # training time, per item
        shortest = min(cost.values())
        chosen = min(s for s, c in cost.items() if c * CPU_TOLERANCE <= shortest)
        why = (
            f"within {1 - CPU_TOLERANCE:.0%} of the shortest training "
            f"({epochs_for(chosen)} epochs at {rates[chosen]:.1f} samples/s; the epochs follow "
            f"the steps per epoch)"
        )
    probed = ", ".join(map(str, rates))
    reason = f"CPU throughput probe over {probed}: {chosen} is the smallest {why}; {why_cap}"
    return BatchChoice(chosen, reason, rates)


def activation_bytes_per_sample(model: Any, sample: Any) -> int:
    """Bytes autograd keeps per sample for one forward pass (what backward needs), measured
    with saved-tensor hooks on a batch of two, times two for the gradients of those tensors."""
    import torch

    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    batch = torch.cat([sample[None], sample[None]])
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(batch)
    del out
    return int(2 * saved / 2 + sample.numel() * sample.element_size())


def timed(fn: Callable[[], Any], sync: Callable[[], None] | None = None) -> float:
    started = time.perf_counter()
    fn()
    if sync is not None:
        sync()
    return time.perf_counter() - started
