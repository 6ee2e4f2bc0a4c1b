"""Classification metrics with scikit-learn, in the shapes metrics.json uses (docs/DESIGN.md
section 4).

Conventions:
* Binary: the second class (index 1) is positive; predictions threshold its probability at 0.5.
  The Youden-optimal threshold (max TPR - FPR on the ROC) is reported beside it, with the
  sensitivity/specificity it gives, but the headline metrics stay at 0.5 so folds compare.
* Multiclass: the predicted class is the arg-max; ``precision``/``recall``/``f1``/``specificity``
  are macro averages, ``*_weighted`` the support-weighted ones, ``per_class`` each class one-vs-
  rest, and ``roc_auc`` the one-vs-rest macro AUC.
* Undefined values (AUC with one class present) are ``None`` in JSON, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

SUMMARY_KEYS_BINARY = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "roc_auc",
    "youden_threshold",
)
SUMMARY_KEYS_MULTICLASS = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "roc_auc",
)
ROC_GRID = np.linspace(0.0, 1.0, 101)


def _clean(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def predicted_classes(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Class index per row: second-class probability >= threshold (binary) or arg-max."""
    probs = np.asarray(probs, dtype=float)
    if probs.shape[1] == 2:
        return (probs[:, 1] >= threshold).astype(int)
    return probs.argmax(axis=1)


def _specificity(cm: np.ndarray, positive: int) -> float | None:
    """TN / (TN + FP) treating ``positive`` as the positive class."""
    tp = cm[positive, positive]
    fp = cm[:, positive].sum() - tp
    fn = cm[positive, :].sum() - tp
    tn = cm.sum() - tp - fp - fn
    return _clean(tn / (tn + fp)) if (tn + fp) > 0 else None


def _roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float | None:
    present = np.unique(y_true)
    if len(present) < 2:
        return None  # AUC is undefined with one class in the fold
    if probs.shape[1] == 2:
        return _clean(skm.roc_auc_score(y_true, probs[:, 1]))
    if len(present) < probs.shape[1]:
        return None  # OvR AUC needs every class present
    return _clean(skm.roc_auc_score(y_true, probs, multi_class="ovr", average="macro"))


def youden_threshold(y_true: np.ndarray, p_pos: np.ndarray) -> tuple[float | None, float, float]:
    """(threshold, sensitivity, specificity) maximising Youden's J = TPR - FPR."""
    if len(np.unique(y_true)) < 2:
        return None, float("nan"), float("nan")
    fpr, tpr, thresholds = skm.roc_curve(y_true, p_pos)
    best = int(np.argmax(tpr - fpr))
    # roc_curve's first threshold is +inf (nothing positive); clamp it into [0, 1].
    return float(min(thresholds[best], 1.0)), float(tpr[best]), float(1.0 - fpr[best])


def classification_metrics(
    y_true: Sequence[int], probs: np.ndarray, classes: Sequence[str], threshold: float = 0.5
) -> dict[str, Any]:
    """Every per-fold metric for true class indices and an (n, n_classes) probability array;
    binary predictions threshold P(second class) at ``threshold``."""
    y = np.asarray(y_true, dtype=int)
    probs = np.asarray(probs, dtype=float)
    labels = list(range(len(classes)))
    pred = predicted_classes(probs, threshold)
    cm = skm.confusion_matrix(y, pred, labels=labels)
    out: dict[str, Any] = {"n": int(len(y)), "accuracy": _clean(skm.accuracy_score(y, pred))}
    if len(classes) == 2:
        out.update(_binary_metrics(y, probs, pred, cm, threshold))
    else:
        out.update(_multiclass_metrics(y, probs, pred, cm, classes))
    out["confusion"] = cm.astype(int).tolist()
    return out


def _binary_metrics(
    y: np.ndarray, probs: np.ndarray, pred: np.ndarray, cm: np.ndarray, threshold: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["precision"] = _clean(skm.precision_score(y, pred, zero_division=0))
    out["recall"] = _clean(skm.recall_score(y, pred, zero_division=0))
    out["specificity"] = _specificity(cm, 1)
    out["f1"] = _clean(skm.f1_score(y, pred, zero_division=0))
    out["roc_auc"] = _roc_auc(y, probs)
    out["threshold"] = float(threshold)
    thr, sens, spec = youden_threshold(y, probs[:, 1])
    out["youden_threshold"] = thr
    out["youden_sensitivity"] = _clean(sens)
    out["youden_specificity"] = _clean(spec)
    return out


def _multiclass_metrics(
    y: np.ndarray, probs: np.ndarray, pred: np.ndarray, cm: np.ndarray, classes: Sequence[str]
) -> dict[str, Any]:
    """Macro and weighted averages, mean specificity, AUC, and every class's own numbers."""
    labels = list(range(len(classes)))
    out: dict[str, Any] = {}
    for avg in ("macro", "weighted"):
        suffix = "" if avg == "macro" else "_weighted"
        kwargs = {"labels": labels, "average": avg, "zero_division": 0}
        out[f"precision{suffix}"] = _clean(skm.precision_score(y, pred, **kwargs))
        out[f"recall{suffix}"] = _clean(skm.recall_score(y, pred, **kwargs))
        out[f"f1{suffix}"] = _clean(skm.f1_score(y, pred, **kwargs))
    specs = [_specificity(cm, k) for k in labels]
    valid = [s for s in specs if s is not None]
    out["specificity"] = _clean(float(np.mean(valid))) if valid else None
    out["roc_auc"] = _roc_auc(y, probs)
    out["per_class"] = _per_class(y, probs, pred, classes, specs)
    return out


def _per_class(
    y: np.ndarray,
    probs: np.ndarray,
    pred: np.ndarray,
    classes: Sequence[str],
    specs: list[float | None],
) -> dict[str, Any]:
    """One class against the rest: precision, recall, F1, specificity, AUC, support."""
    labels = list(range(len(classes)))
    prec, rec, f1, support = skm.precision_recall_fscore_support(
        y, pred, labels=labels, zero_division=0
    )
    per_class: dict[str, Any] = {}
    for k, name in enumerate(classes):
        binary_true = (y == k).astype(int)
        auc = (
            _clean(skm.roc_auc_score(binary_true, probs[:, k]))
            if 0 < binary_true.sum() < len(y)
            else None
        )
        per_class[name] = {
            "precision": _clean(prec[k]),
            "recall": _clean(rec[k]),
            "f1": _clean(f1[k]),
            "specificity": specs[k],
            "roc_auc": auc,
            "support": int(support[k]),
        }
    return per_class


def summarise(fold_metrics: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Mean and sample standard deviation (ddof=1; 0 for one fold) of every scalar fold metric."""
    keys: list[str] = []
    for fm in fold_metrics:
        for key, value in fm.items():
            if key not in keys and isinstance(value, int | float) and not isinstance(value, bool):
                keys.append(key)
    summary: dict[str, dict[str, float | None]] = {}
    for key in keys:
        if key in ("fold", "n", "threshold"):
            continue
        values = [float(v) for fm in fold_metrics if (v := fm.get(key)) is not None]
        if not values:
            summary[key] = {"mean": None, "std": None, "n": 0}
            continue
        std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        summary[key] = {"mean": float(np.mean(values)), "std": std, "n": len(values)}
    return summary


def summarise_per_class(
    fold_metrics: Sequence[dict[str, Any]],
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Each class's metrics (multiclass ``per_class``), mean and std over the folds."""
    classes: list[str] = []
    for fm in fold_metrics:
        classes += [c for c in fm.get("per_class") or {} if c not in classes]
    return {
        c: summarise([(fm.get("per_class") or {}).get(c, {}) for fm in fold_metrics])
        for c in classes
    }


def roc_curve_points(y_true: Sequence[int], probs: np.ndarray) -> dict[str, list[float]] | None:
    """One fold's ROC (binary) or macro-averaged one-vs-rest ROC (multiclass) on ROC_GRID."""
    y = np.asarray(y_true, dtype=int)
    probs = np.asarray(probs, dtype=float)
    if len(np.unique(y)) < 2:
        return None
    if probs.shape[1] == 2:
        fpr, tpr, _ = skm.roc_curve(y, probs[:, 1])
        grid_tpr = np.interp(ROC_GRID, fpr, tpr)
    else:
        curves = []
        for k in range(probs.shape[1]):
            binary = (y == k).astype(int)
            if 0 < binary.sum() < len(y):
                fpr, tpr, _ = skm.roc_curve(binary, probs[:, k])
                curves.append(np.interp(ROC_GRID, fpr, tpr))
        if not curves:
            return None
        grid_tpr = np.mean(curves, axis=0)
    grid_tpr[0] = 0.0
    return {"fpr": ROC_GRID.round(4).tolist(), "tpr": grid_tpr.round(6).tolist()}


def mean_roc(curves: Sequence[dict[str, list[float]] | None]) -> dict[str, list[float]] | None:
    """Mean TPR ± std over folds on the common FPR grid."""
    valid = [np.asarray(c["tpr"]) for c in curves if c]
    if not valid:
        return None
    stack = np.vstack(valid)
    mean = stack.mean(axis=0)
    mean[-1] = 1.0
    std = stack.std(axis=0, ddof=1) if len(valid) > 1 else np.zeros_like(mean)
    return {
        "fpr": ROC_GRID.round(4).tolist(),
        "tpr_mean": mean.round(6).tolist(),
        "tpr_std": std.round(6).tolist(),
    }


def pooled_confusion(y_true: Sequence[int], probs: np.ndarray, n_classes: int) -> list[list[int]]:
    """Confusion matrix over every out-of-fold prediction together."""
    pred = predicted_classes(np.asarray(probs))
    cm = skm.confusion_matrix(np.asarray(y_true, dtype=int), pred, labels=list(range(n_classes)))
    return cm.astype(int).tolist()
