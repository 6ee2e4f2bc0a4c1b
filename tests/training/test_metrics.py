"""Metrics equal scikit-learn's on fixed predictions; summary, ROC and confusion helpers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from training import metrics as M


def _binary_case():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 40)
    p = np.clip(y * 0.35 + rng.uniform(0, 0.65, 40), 0, 1)
    return y, np.stack([1 - p, p], axis=1)


def test_binary_metrics_match_sklearn():
    y, probs = _binary_case()
    out = M.classification_metrics(y, probs, ["WT", "MUT"])
    pred = (probs[:, 1] >= 0.5).astype(int)
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert out["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert out["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert out["f1"] == pytest.approx(skm.f1_score(y, pred))
    # specificity is the recall of the negative (first) class
    assert out["specificity"] == pytest.approx(skm.recall_score(y, pred, pos_label=0))
    assert out["roc_auc"] == pytest.approx(skm.roc_auc_score(y, probs[:, 1]))
    assert out["confusion"] == skm.confusion_matrix(y, pred).tolist()
    assert out["threshold"] == 0.5
    fpr, tpr, thr = skm.roc_curve(y, probs[:, 1])
    best = int(np.argmax(tpr - fpr))
    assert out["youden_threshold"] == pytest.approx(min(thr[best], 1.0))
    assert out["youden_sensitivity"] == pytest.approx(tpr[best])


def test_second_class_is_positive():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    out = M.classification_metrics(y, probs, ["benign", "malignant"])
    assert out["recall"] == 0.5  # one of the two "malignant" items found
    assert out["precision"] == 0.5
    assert out["specificity"] == 0.5


def test_multiclass_metrics_match_sklearn():
    rng = np.random.default_rng(2)
    y = np.tile([0, 1, 2], 20)
    logits = rng.normal(0, 1, (60, 3))
    logits[np.arange(60), y] += 1.2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    out = M.classification_metrics(y, probs, ["a", "b", "c"])
    pred = probs.argmax(1)
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    for avg, suffix in (("macro", ""), ("weighted", "_weighted")):
        assert out[f"precision{suffix}"] == pytest.approx(skm.precision_score(y, pred, average=avg))
        assert out[f"recall{suffix}"] == pytest.approx(skm.recall_score(y, pred, average=avg))
        assert out[f"f1{suffix}"] == pytest.approx(skm.f1_score(y, pred, average=avg))
    assert out["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, probs, multi_class="ovr", average="macro")
    )
    per = skm.precision_recall_fscore_support(y, pred)
    for k, name in enumerate("abc"):
        assert out["per_class"][name]["precision"] == pytest.approx(per[0][k])
        assert out["per_class"][name]["recall"] == pytest.approx(per[1][k])
        assert out["per_class"][name]["support"] == per[3][k]
    assert np.asarray(out["confusion"]).sum() == 60


def test_undefined_auc_is_none_not_nan():
    out = M.classification_metrics([1, 1, 1], np.array([[0.2, 0.8]] * 3), ["WT", "MUT"])
    assert out["roc_auc"] is None
    assert out["youden_threshold"] is None


def test_summary_mean_and_sample_std():
    folds = [
        {"fold": 1, "accuracy": 0.8, "roc_auc": 0.9},
        {"fold": 2, "accuracy": 0.6, "roc_auc": None},
    ]
    s = M.summarise(folds)
    assert s["accuracy"]["mean"] == pytest.approx(0.7)
    assert s["accuracy"]["std"] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    assert s["roc_auc"]["mean"] == pytest.approx(0.9) and s["roc_auc"]["n"] == 1
    assert "fold" not in s


def test_mean_roc_and_pooled_confusion():
    y, probs = _binary_case()
    curves = [M.roc_curve_points(y[:20], probs[:20]), M.roc_curve_points(y[20:], probs[20:])]
    mean = M.mean_roc(curves)
    assert len(mean["fpr"]) == len(mean["tpr_mean"]) == len(mean["tpr_std"]) == 101
    assert mean["tpr_mean"][0] == 0.0 and mean["tpr_mean"][-1] == 1.0
    assert np.all(np.diff(mean["tpr_mean"]) >= -1e-9)
    pooled = M.pooled_confusion(y, probs, 2)
    assert pooled == skm.confusion_matrix(y, (probs[:, 1] >= 0.5).astype(int)).tolist()
