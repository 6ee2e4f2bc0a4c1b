"""Statistics for comparing models of a study: DeLong's test for two correlated ROC AUCs, the
paired t-test on per-fold AUCs, and the Pareto front of AUC against cost.

DeLong: E. R. DeLong, D. M. DeLong, D. L. Clarke-Pearson, "Comparing the areas under two or
more correlated receiver operating characteristic curves: a nonparametric approach",
Biometrics 44 (1988) 837-845; computed with the fast algorithm of X. Sun and W. Xu, "Fast
implementation of DeLong's algorithm for comparing the areas under correlated receiver
operating characteristic curves", IEEE Signal Processing Letters 21 (2014) 1389-1393, which
gets the structural components from midranks in O(N log N) instead of the O(m n) double sum.

Everything here is numpy + scipy (no torch): the window and the report both use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05


# ---------------------------------------------------------------------- DeLong
def midrank(x: np.ndarray) -> np.ndarray:
    """Ranks 1..N of ``x`` with ties given the mean of the ranks they span (Sun & Xu, Alg. 1)."""
    order = np.argsort(x, kind="mergesort")
    z = x[order]
    n = len(x)
    t = np.zeros(n, dtype=float)
    i = 0
    while i < n:
        j = i
        while j < n and z[j] == z[i]:
            j += 1
        t[i:j] = 0.5 * (i + j - 1) + 1  # mean of the 1-based ranks i+1 .. j
        i = j
    out = np.empty(n, dtype=float)
    out[order] = t
    return out


@dataclass
class DelongComponents:
    aucs: np.ndarray  # (k,) one AUC per score set
    v10: np.ndarray  # (k, m) structural components of the positives
    v01: np.ndarray  # (k, n) structural components of the negatives

    @property
    def covariance(self) -> np.ndarray:
        """(k, k) covariance of the AUC estimates: S10 / m + S01 / n."""
        m, n = self.v10.shape[1], self.v01.shape[1]
        s10 = np.atleast_2d(np.cov(self.v10)) if m > 1 else np.zeros((len(self.aucs),) * 2)
        s01 = np.atleast_2d(np.cov(self.v01)) if n > 1 else np.zeros((len(self.aucs),) * 2)
        return s10 / m + s01 / n


def delong_components(y_true: Sequence[int], scores: Sequence[Sequence[float]]) -> DelongComponents:
    """Fast DeLong (Sun & Xu 2014): ``scores`` is (k, N), one row per model; ``y_true`` 0/1."""
    y = np.asarray(y_true).astype(int)
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    pos, neg = s[:, y == 1], s[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    if m == 0 or n == 0:
        raise ValueError("DeLong needs both positive and negative items")
    k = s.shape[0]
    tx = np.stack([midrank(pos[r]) for r in range(k)])
    ty = np.stack([midrank(neg[r]) for r in range(k)])
    tz = np.stack([midrank(np.concatenate([pos[r], neg[r]])) for r in range(k)])
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return DelongComponents(aucs, v10, v01)


@dataclass
class DelongResult:
    auc_a: float
    auc_b: float
    difference: float  # auc_a - auc_b
    se: float
    z: float | None
    p_value: float | None  # two-sided; None when both AUCs are estimated without variance


def delong_test(
    y_true: Sequence[int], scores_a: Sequence[float], scores_b: Sequence[float]
) -> DelongResult:
    """DeLong's test of H0: AUC_a == AUC_b for two models scored on the same items."""
    from scipy.stats import norm

    comp = delong_components(y_true, [scores_a, scores_b])
    cov = comp.covariance
    diff = float(comp.aucs[0] - comp.aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = math.sqrt(max(var, 0.0))
    if se == 0.0:
        # Identical rankings (or perfect separation by both): no evidence of a difference.
        p = 1.0 if diff == 0.0 else None
        return DelongResult(float(comp.aucs[0]), float(comp.aucs[1]), diff, 0.0, None, p)
    z = diff / se
    return DelongResult(
        float(comp.aucs[0]), float(comp.aucs[1]), diff, se, z, float(2 * norm.sf(abs(z)))
    )


# ---------------------------------------------------------------------- per-fold AUCs
@dataclass
class PairedResult:
    test: str  # the test's name, stated wherever the p-value is shown
    n: int  # number of pairs (folds)
    mean_difference: float
    statistic: float | None
    p_value: float | None


PAIRED_TEST_NAME = "paired t-test on per-fold AUCs"
PAIRED_TEST_WHY = (
    "a paired t-test (not Wilcoxon's signed-rank test, whose smallest two-sided p-value with "
    "5 folds is 0.0625, so it could never reach 0.05)"
)


def paired_fold_test(a: Sequence[float], b: Sequence[float]) -> PairedResult:
    """Paired t-test of per-fold AUCs of two models on the same folds (scipy's ttest_rel).

    The folds share training items, so fold scores are not independent and the test is
    optimistic (Dietterich 1998; Nadeau & Bengio 2003); DeLong on the pooled out-of-fold
    predictions is the second, complementary view.
    """
    from scipy.stats import ttest_rel

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError("paired test: the two models must have the same folds")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    n = len(x)
    diff = x - y
    mean = float(diff.mean()) if n else float("nan")
    if n < 2:
        return PairedResult(PAIRED_TEST_NAME, n, mean, None, None)
    if np.allclose(diff, diff[0]):
        # Constant differences: zero variance; scipy returns nan (or inf). Say it plainly.
        return PairedResult(PAIRED_TEST_NAME, n, mean, None, 1.0 if diff[0] == 0 else None)
    result = ttest_rel(x, y)
    return PairedResult(PAIRED_TEST_NAME, n, mean, float(result.statistic), float(result.pvalue))


def verdict(
    best: str, other: str, p_value: float | None, difference: float, alpha: float = ALPHA
) -> str:
    """The plain sentence: "resnet18 vs mobilenet_v2: no significant difference (p = 0.41)".
    ``difference`` is best minus other; a significant result names whichever is higher."""
    if p_value is None:
        return f"{best} vs {other}: not testable (no variance in the differences)"
    text = format_p(p_value)
    if p_value < alpha:
        winner = best if difference >= 0 else other
        return f"{best} vs {other}: {winner} is significantly better ({text})"
    return f"{best} vs {other}: no significant difference ({text})"


def format_p(p: float | None) -> str:
    if p is None:
        return "p = n/a"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


# ---------------------------------------------------------------------- Pareto front
def pareto_front(cost: Sequence[float | None], score: Sequence[float | None]) -> list[int]:
    """Indices of the points no other point beats: lower (or equal) cost AND higher (or equal)
    score with one of them strictly better. Points with a missing value are never on it.
    Sorted by cost, ascending."""
    pts = [
        (i, float(c), float(s))
        for i, (c, s) in enumerate(zip(cost, score, strict=True))
        if c is not None and s is not None and not (math.isnan(c) or math.isnan(s))
    ]
    front = []
    for i, c, s in pts:
        dominated = any((c2 <= c and s2 >= s) and (c2 < c or s2 > s) for j, c2, s2 in pts if j != i)
        if not dominated:
            front.append((c, -s, i))
    return [i for _c, _s, i in sorted(front)]
