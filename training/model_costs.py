"""Parameters and MACs of each model, known without building it (the window may not load
torch): measured once with training.models.model_info at a reference input size, binary head,
and checked by tests/training/test_model_costs.py. MACs scale with the input area (2D) or
volume (3D); that scaling is what "≈" means in the Compare dialog.

Time estimate: 3 x MACs (forward + backward) per training image per epoch, plus one forward
per validation image, at a throughput measured by earlier runs in the project when there are
any (``train_samples_per_second`` and MACs in their metrics), else a rough default.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from training.config import model_kind
from training.model_specs import SPECS

# name: (parameters, MACs at the reference size, reference size): ModelSpec.cost
COSTS: dict[str, tuple[int, int, int]] = {n: s.cost for n, s in SPECS.items() if s.cost}
DEFAULT_MACS_PER_SECOND = {"cpu": 2.0e10, "gpu": 1.0e12}  # effective, training (rough)


def parameters(model: str) -> int | None:
    cost = COSTS.get(model)
    return cost[0] if cost else None


def macs(model: str, size: int) -> int | None:
    """MACs of one forward pass at ``size`` px (2D) or voxels (3D) per side."""
    cost = COSTS.get(model)
    if cost is None:
        return None
    power = 3 if model_kind(model) == "3d" else 2
    return int(cost[1] * (size / cost[2]) ** power)


def measured_rate(runs: Iterable[Any]) -> float | None:
    """Effective training MACs per second of this machine, from finished runs' metrics."""
    rates = []
    for run in runs:
        m = getattr(run, "metrics", None) or {}
        info = m.get("model_info") or {}
        sps = (m.get("timing") or {}).get("train_samples_per_second")
        if sps and info.get("macs"):
            rates.append(3 * info["macs"] * sps)
    return max(rates) if rates else None


def estimate_seconds(
    model: str, size: int, n_items: int, folds: int, epochs: int, rate: float
) -> float | None:
    """Seconds for a k-fold run: each fold trains on (k-1)/k of the items and validates on
    the rest, every epoch."""
    m = macs(model, size)
    if m is None or rate <= 0:
        return None
    train = n_items * (folds - 1) / folds if folds > 1 else n_items * 0.85
    val = n_items - train
    per_epoch = (3 * m * train + m * val) / rate
    return per_epoch * epochs * max(folds, 1)
