"""training.stats: fast DeLong against the naive structural-components formula (DeLong 1988,
computed here independently with the O(m n) double sum), the paired t-test against scipy,
the Pareto front on fixed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm, ttest_rel
from sklearn.metrics import roc_auc_score

from training import stats


def _naive_delong(y, a, b):
    """DeLong et al. 1988 written out: psi kernel, V10/V01 by double sums, S = S10/m + S01/n."""
    y = np.asarray(y)
    out_auc, v10s, v01s = [], [], []
    for s in (np.asarray(a, float), np.asarray(b, float)):
        pos, neg = s[y == 1], s[y == 0]
        psi = np.array([[1.0 if x > w else 0.5 if x == w else 0.0 for w in neg] for x in pos])
        out_auc.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    m, n = len(v10s[0]), len(v01s[0])

    def cov(u, v):
        return sum((ui - u.mean()) * (vi - v.mean()) for ui, vi in zip(u, v, strict=True)) / (
            len(u) - 1
        )

    s = [[cov(v10s[i], v10s[j]) / m + cov(v01s[i], v01s[j]) / n for j in (0, 1)] for i in (0, 1)]
    var = s[0][0] + s[1][1] - 2 * s[0][1]
    z = (out_auc[0] - out_auc[1]) / math.sqrt(var)
    return out_auc, z, 2 * norm.sf(abs(z))


def _fixed_scores():
    rng = np.random.default_rng(7)
    y = np.array([0] * 30 + [1] * 25)
    a = y * 0.9 + rng.normal(0, 0.6, len(y))
    b = y * 0.5 + rng.normal(0, 0.6, len(y)) + 0.2 * a
    # ties, within a model and across classes: the midrank path must handle them
    a = np.round(a, 1)
    b = np.round(b, 1)
    return y, a, b


def test_midrank_matches_scipy_rankdata():
    from scipy.stats import rankdata

    x = np.array([3.0, 1.0, 2.0, 2.0, 5.0, 1.0, 2.0])
    assert np.allclose(stats.midrank(x), rankdata(x))


def test_fast_delong_matches_the_naive_formula_and_sklearn():
    y, a, b = _fixed_scores()
    result = stats.delong_test(y, a, b)
    (auc_a, auc_b), z, p = _naive_delong(y, a, b)
    assert result.auc_a == pytest.approx(auc_a, abs=1e-12)
    assert result.auc_b == pytest.approx(auc_b, abs=1e-12)
    assert result.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert result.z == pytest.approx(z, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert 0 < result.p_value < 1


def test_delong_order_and_degenerate_cases():
    y, a, b = _fixed_scores()
    ab, ba = stats.delong_test(y, a, b), stats.delong_test(y, b, a)
    assert ab.p_value == pytest.approx(ba.p_value)
    assert ab.difference == pytest.approx(-ba.difference)
    same = stats.delong_test(y, a, a)
    assert same.difference == 0 and same.p_value == 1.0
    with pytest.raises(ValueError):
        stats.delong_test([1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


def test_paired_fold_test_matches_scipy():
    a = [0.91, 0.88, 0.93, 0.86, 0.90]
    b = [0.87, 0.86, 0.90, 0.87, 0.85]
    result = stats.paired_fold_test(a, b)
    expected = ttest_rel(a, b)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.n == 5 and result.mean_difference == pytest.approx(0.026)
    assert "t-test" in result.test


def test_paired_fold_test_constant_differences_and_too_few_folds():
    assert stats.paired_fold_test([0.8, 0.9], [0.8, 0.9]).p_value == 1.0
    assert stats.paired_fold_test([0.9], [0.8]).p_value is None


def test_verdict_sentences():
    assert stats.verdict("resnet18", "mobilenet_v2", 0.41, 0.01) == (
        "resnet18 vs mobilenet_v2: no significant difference (p = 0.41)"
    )
    assert stats.verdict("a", "b", 0.0004, 0.1) == "a vs b: a is significantly better (p < 0.001)"
    assert stats.verdict("a", "b", 0.02, -0.1) == "a vs b: b is significantly better (p = 0.020)"


def test_pareto_front_on_fixed_numbers():
    #          0     1     2     3     4     5(no MACs)  6 (tie with 1 on both: both stay)
    macs = [1.0, 10.0, 5.0, 100.0, 50.0, None, 10.0]
    auc = [0.80, 0.90, 0.78, 0.95, 0.85, 0.99, 0.90]
    # 2 is beaten by 0 (cheaper and better); 4 by 1 (cheaper and better).
    assert stats.pareto_front(macs, auc) == [0, 1, 6, 3]
    assert stats.pareto_front([1.0], [0.5]) == [0]
    assert stats.pareto_front([], []) == []
