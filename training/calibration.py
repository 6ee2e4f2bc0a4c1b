"""Probabilities and decisions that mean something: temperature scaling and the binary
decision threshold, both fitted on the pooled out-of-fold (OOF) validation predictions.

* Temperature scaling divides every logit by one fitted T > 0 (Guo et al., 2017). It changes
  no ranking (the AUC stays) but makes P close to the observed frequency: a small set trained
  to near-zero loss gives over-confident P (T > 1 softens it), an under-trained one P near 0.5
  (T < 1 sharpens it). It is fitted by minimising the negative log-likelihood of the OOF
  predictions, which every item of the pool has exactly once, from a model that never saw it.
* The threshold (binary only) is chosen on the calibrated OOF P: Youden's J = TPR - FPR by
  default, or the highest threshold that keeps sensitivity >= the target recall. It applies to
  the test split and to predictions of unlabelled items.
* The expected calibration error (ECE): the mean |accuracy - confidence| over 10 equal-width
  bins of the top-class confidence, weighted by the bin's share of items.

Everything works on stored probabilities (predictions.csv holds probabilities, not logits):
the binary logit is log(p / (1 - p)), the multiclass one log(p) (softmax ignores a shift).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

EPS = 1e-12
ECE_BINS = 10
T_RANGE = (0.05, 20.0)


def logits_of(probs: np.ndarray) -> np.ndarray:
    """(n, k) probabilities -> logits: (n,) for binary, (n, k) for multiclass."""
    p = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS)
    if p.shape[1] == 2:
        return np.log(p[:, 1]) - np.log(p[:, 0])
    return np.log(p)


def probs_of(logits: np.ndarray, n_classes: int) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if n_classes == 2:
        p = 1.0 / (1.0 + np.exp(-z))
        return np.stack([1 - p, p], axis=1)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0 or temperature == 1.0:
        return probs
    return probs_of(logits_of(probs) / temperature, probs.shape[1])


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(np.asarray(probs)[np.arange(len(y)), np.asarray(y, dtype=int)], EPS, 1.0)
    return float(-np.mean(np.log(p)))


def fit_temperature(probs: np.ndarray, y: ArrayLike) -> float:
    """T minimising the NLL of ``probs ** (1/T)`` (renormalised) plus a weak prior
    ``(log T)^2 / n`` towards T = 1; a golden-section search on log T, 1.0 when there is
    nothing to fit. Why the prior: on a small pool that the folds separate perfectly the NLL
    keeps falling as T -> 0, and an unregularised fit would turn every P into 0 or 1; the
    prior's weight shrinks with the pool, so on real-sized pools it changes nothing."""
    y = np.asarray(y, dtype=int)
    probs = np.asarray(probs, dtype=np.float64)
    if len(y) < 2 or len(np.unique(y)) < 2:
        return 1.0
    z = logits_of(probs)
    k = probs.shape[1]

    def loss(log_t: float) -> float:
        return nll(probs_of(z / math.exp(log_t), k), y) + log_t**2 / len(y)

    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = loss(b)
    best = math.exp((lo + hi) / 2)
    return float(best) if loss(math.log(best)) <= loss(0.0) else 1.0


def expected_calibration_error(probs: np.ndarray, y: ArrayLike, bins: int = ECE_BINS) -> float:
    """Top-label ECE over ``bins`` equal-width confidence bins."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=int)
    if len(y) == 0:
        return float("nan")
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def choose_threshold(
    y: ArrayLike, p_pos: ArrayLike, target_recall: float | None = None
) -> tuple[float, float, float]:
    """(threshold, sensitivity, specificity) on these predictions; predicted positive means
    ``p >= threshold``. Youden: the candidate maximising TPR - FPR (ties: the one nearest 0.5).
    Target recall: the highest candidate whose sensitivity reaches the target. Candidates are
    midpoints between consecutive distinct scores, so the threshold never sits on an item."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p_pos, dtype=np.float64)
    pos, neg = (y == 1).sum(), (y == 0).sum()
    if pos == 0 or neg == 0:
        return 0.5, float("nan"), float("nan")
    scores = np.unique(p)
    cands = np.concatenate(
        [[scores[0] - 1e-9], (scores[:-1] + scores[1:]) / 2, [scores[-1] + 1e-9]]
    )
    cands = np.clip(cands, 0.0, 1.0)
    sens = np.array([((p >= t) & (y == 1)).sum() / pos for t in cands])
    spec = np.array([((p < t) & (y == 0)).sum() / neg for t in cands])
    if target_recall is not None:
        ok = np.flatnonzero(sens >= target_recall - 1e-12)
        best = int(ok[np.argmax(cands[ok])])
    else:
        j = sens + spec - 1
        top = np.flatnonzero(np.isclose(j, j.max()))
        best = int(top[np.argmin(np.abs(cands[top] - 0.5))])
    return float(cands[best]), float(sens[best]), float(spec[best])


@dataclass
class Calibration:
    temperature: float = 1.0
    threshold: float = 0.5  # binary: applies to calibrated P(positive)
    method: str = "0.5"  # "youden" | "target_recall" | "0.5"
    target_recall: float | None = None
    n: int = 0
    ece_before: float | None = None
    ece_after: float | None = None
    oof_sensitivity: float | None = None
    oof_specificity: float | None = None

    def apply(self, probs: np.ndarray) -> np.ndarray:
        return apply_temperature(probs, self.temperature)

    def to_json(self) -> dict[str, Any]:
        def clean(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else round(float(v), 6)

        return {
            "fitted_on": f"pooled out-of-fold validation predictions ({self.n} items)",
            "temperature": clean(self.temperature),
            "ece_before": clean(self.ece_before),
            "ece_after": clean(self.ece_after),
            "threshold": clean(self.threshold),
            "threshold_method": self.method,
            "target_recall": self.target_recall,
            "oof_sensitivity": clean(self.oof_sensitivity),
            "oof_specificity": clean(self.oof_specificity),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Calibration:
        if not data:
            return cls()
        return cls(
            temperature=float(data.get("temperature") or 1.0),
            threshold=float(data["threshold"]) if data.get("threshold") is not None else 0.5,
            method=str(data.get("threshold_method") or "0.5"),
            target_recall=data.get("target_recall"),
        )


def fit_calibration(
    probs: np.ndarray,
    y: ArrayLike,
    *,
    calibrate: bool = True,
    threshold: str = "youden",
    target_recall: float | None = None,
) -> Calibration:
    """Temperature (if ``calibrate``) then threshold (binary) on the OOF predictions."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=int)
    cal = Calibration(n=len(y))
    if len(y) == 0:
        return cal
    cal.ece_before = expected_calibration_error(probs, y)
    if calibrate:
        cal.temperature = fit_temperature(probs, y)
    calibrated = cal.apply(probs)
    cal.ece_after = expected_calibration_error(calibrated, y)
    if probs.shape[1] == 2 and len(np.unique(y)) == 2:
        if target_recall is not None:
            cal.method, cal.target_recall = "target_recall", target_recall
        elif threshold == "youden":
            cal.method = "youden"
        if cal.method != "0.5":
            t, sens, spec = choose_threshold(y, calibrated[:, 1], target_recall)
            cal.threshold, cal.oof_sensitivity, cal.oof_specificity = t, sens, spec
    return cal
