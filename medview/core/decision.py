"""Decision thresholds in the window: confusion counts, metrics and ROC points of a binary
run's stored probabilities at any threshold (pure numpy; the window must not load the engine).

The conventions are the engine's (training.metrics): the second class is positive and an item
is called positive when its probability is >= the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def predicted(p_pos: Sequence[float], threshold: float = 0.5) -> np.ndarray:
    return (np.asarray(p_pos, dtype=float) >= threshold).astype(int)


def confusion(true: Sequence[int], p_pos: Sequence[float], threshold: float = 0.5) -> np.ndarray:
    """2 x 2 counts, rows true (negative, positive), columns predicted."""
    y = np.asarray(true, dtype=int)
    pred = predicted(p_pos, threshold)
    cm = np.zeros((2, 2), dtype=int)
    np.add.at(cm, (y, pred), 1)
    return cm


def metrics_at(true: Sequence[int], p_pos: Sequence[float], threshold: float) -> dict[str, Any]:
    """The threshold-dependent metrics of the metrics table (ROC AUC does not change)."""
    cm = confusion(true, p_pos, threshold)
    tn, fp, fn, tp = (int(v) for v in cm.ravel())
    n = tn + fp + fn + tp

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else (0.0 if precision is not None and recall is not None else None)
    )
    return {
        "n_val": n,
        "accuracy": ratio(tp + tn, n),
        "precision": precision,
        "recall": recall,
        "specificity": ratio(tn, tn + fp),
        "f1": f1,
        "confusion": cm.tolist(),
        "threshold": threshold,
    }


def roc_points(true: Sequence[int], p_pos: Sequence[float]) -> tuple[np.ndarray, ...]:
    """(fpr, tpr, thresholds): one point per distinct probability, from (0, 0) at a threshold
    above every probability to (1, 1) at the lowest."""
    y = np.asarray(true, dtype=int)
    p = np.asarray(p_pos, dtype=float)
    cuts = np.concatenate([[np.inf], np.unique(p)[::-1]])
    pos, neg = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    tpr = np.array([((p >= t) & (y == 1)).sum() / pos for t in cuts])
    fpr = np.array([((p >= t) & (y == 0)).sum() / neg for t in cuts])
    return fpr, tpr, cuts


def threshold_near(
    true: Sequence[int], p_pos: Sequence[float], fpr: float, tpr: float
) -> tuple[float, float, float]:
    """The threshold of the ROC point nearest to (fpr, tpr), with that point. The top corner
    (threshold +inf) becomes just above the highest probability, a usable number."""
    xs, ys, cuts = roc_points(true, p_pos)
    k = int(np.argmin((xs - fpr) ** 2 + (ys - tpr) ** 2))
    cut = float(cuts[k])
    if not np.isfinite(cut):
        cut = float(np.nextafter(np.max(p_pos), np.inf)) if len(p_pos) else 1.0
    return cut, float(xs[k]), float(ys[k])
