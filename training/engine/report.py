"""The run folder (docs/DESIGN.md section 4): config.json, metrics.json, history.csv,
predictions.csv, roc/confusion/loss plots (PNG + SVG), per-fold weights (written by the
engine) and log.txt.

``predictions.csv`` columns: ``item_id, item_name, fold, split, true, p_<class>...,
p_<class>_raw..., predicted, threshold``; every row alike: ``p_<class>`` is calibrated where
the run has a calibration (else equal to ``p_<class>_raw``, the model's own output),
``predicted`` is ``p_<positive class> >= threshold`` (binary) or the arg-max (multiclass,
``threshold`` empty). Files written before this had one ``prob_<class>`` column per class
(fold rows raw, fold-0 rows calibrated); read_predictions still reads them.
``fold`` 1..k are each fold model's predictions (its validation items, and the test items);
``fold`` 0 is the run's final prediction: the out-of-fold one for cross-validated items and
the fold-ensemble mean for test and unlabelled items. ``split`` is the item's role in this run
(``val``, ``test``, or empty for unlabelled items); ``true`` is empty for unlabelled items.
Validation rows are calibrated and thresholded cross-fitted (fitted on the other folds'
predictions, training/recipe/cross_fit.py); test and unlabelled rows with the calibration fitted on
all out-of-fold predictions.

The metrics are computed from these rows, so a merge of per-fold runs (training/outputs/merge.py)
recomputes exactly what a full run writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medview.core import csv_cells
from medview.core.containment import atomic_text
from medview.core.run_folder import read_history_csv, write_history_csv
from medview.core.run_folder import write_json as write_json  # re-exported for older callers
from training.engine import metrics as M
from training.recipe.report_plots import write_plots as write_plots  # re-exported for older callers


@dataclass
class PredRow:
    item_id: int
    fold: int
    split: str | None
    true: int | None  # class index, None when unlabelled
    probs: list[float]  # calibrated where the run has a calibration
    threshold: float = 0.5  # binary: P(second class) at or above it predicts that class
    raw: list[float] | None = None  # the model's own output, when ``probs`` is calibrated

    def predicted(self) -> int:
        return int(M.predicted_classes(np.asarray([self.probs]), self.threshold)[0])

    @property
    def uncalibrated(self) -> list[float]:
        return self.raw if self.raw is not None else self.probs


def _truths(rows: Sequence[PredRow]) -> list[int]:
    """The true class indices of labelled rows (validation and test rows always are)."""
    return [r.true for r in rows if r.true is not None]


# Kept under their old names for callers of this module; RunFolder owns them.
write_history = write_history_csv
read_history = read_history_csv


def prob_columns(classes: Sequence[str]) -> list[str]:
    return [f"p_{c}" for c in classes] + [f"p_{c}_raw" for c in classes]


def write_predictions(
    path: Path,
    rows: Sequence[PredRow],
    classes: Sequence[str],
    names: Mapping[int, str] | None = None,
) -> None:
    """``names`` (item id -> item name) adds an ``item_name`` column after ``item_id``, so the
    file can be read without the project; ``medview export`` drops it again (names can be
    patient identifiers)."""
    binary = len(classes) == 2
    with atomic_text(path) as fh:
        writer = csv_cells.writer(fh)
        head = ["item_id"] + (["item_name"] if names is not None else [])
        writer.writerow(
            [*head, "fold", "split", "true", *prob_columns(classes), "predicted", "threshold"]
        )
        for r in rows:
            writer.writerow(
                [
                    r.item_id,
                    *([names.get(r.item_id, "")] if names is not None else []),
                    r.fold,
                    r.split or "",
                    classes[r.true] if r.true is not None else "",
                    *[f"{p:.6f}" for p in r.probs],
                    *[f"{p:.6f}" for p in r.uncalibrated],
                    classes[r.predicted()],
                    f"{r.threshold:.6f}" if binary else "",
                ]
            )


def row_probs(raw: Mapping[str, str], classes: Sequence[str]) -> tuple[list[float], list[float]]:
    """(p, p_raw) of one predictions.csv row, new (``p_<class>``, ``p_<class>_raw``) or old
    (``prob_<class>``, one column for both) names."""
    if f"p_{classes[0]}" in raw:
        p = [float(raw[f"p_{c}"]) for c in classes]
        return p, [float(raw.get(f"p_{c}_raw") or raw[f"p_{c}"]) for c in classes]
    p = [float(raw[f"prob_{c}"]) for c in classes]
    return p, p


def read_predictions(path: Path, classes: Sequence[str]) -> list[PredRow]:
    index = {c: k for k, c in enumerate(classes)}
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for raw in csv_cells.DictReader(fh):
            probs, uncalibrated = row_probs(raw, classes)
            rows.append(
                PredRow(
                    int(raw["item_id"]),
                    int(raw["fold"]),
                    raw["split"] or None,
                    index[raw["true"]] if raw["true"] else None,
                    probs,
                    float(raw.get("threshold") or 0.5),
                    uncalibrated,
                )
            )
    return rows


def ensemble_rows(rows: Sequence[PredRow], split: str | None) -> list[PredRow]:
    """Fold-0 rows: the mean uncalibrated probability over folds of every item with ``split``."""
    by_item: dict[int, list[PredRow]] = {}
    for r in rows:
        if r.fold > 0 and r.split == split:
            by_item.setdefault(r.item_id, []).append(r)
    return [
        PredRow(i, 0, split, rs[0].true, np.mean([r.uncalibrated for r in rs], axis=0).tolist())
        for i, rs in sorted(by_item.items())
    ]


def final_rows(rows: Sequence[PredRow], calibration: Any = None) -> list[PredRow]:
    """Fold-0 rows: each validation item's out-of-fold prediction (with a ``CrossFit``,
    training/recipe/cross_fit.py: calibrated and thresholded as fitted on the other folds), each
    test item's ensemble (calibrated and thresholded as fitted on all out-of-fold predictions)."""
    val = [r for r in rows if r.fold > 0 and r.split == "val"]
    oof = [
        PredRow(r.item_id, 0, "val", r.true, r.probs, r.threshold, r.raw)
        for r in calibrated_rows(val, calibration)
    ]
    test = calibrated_rows(ensemble_rows(rows, "test"), calibration)
    return sorted(oof, key=lambda r: r.item_id) + test


def calibrated_rows(rows: Sequence[PredRow], calibration: Any) -> list[PredRow]:
    """Each row calibrated and thresholded from its model's own output: a fold model's
    validation rows with the calibration fitted on the other folds, the rest with the full one
    (``calibration`` is a CrossFit, or a single Calibration for every row)."""
    if calibration is None or not rows:
        return list(rows)
    out = []
    for r in rows:
        cal = (
            calibration.for_row(r.fold, r.split) if hasattr(calibration, "for_row") else calibration
        )
        p = cal.apply(np.asarray([r.uncalibrated]))[0]
        out.append(
            PredRow(r.item_id, r.fold, r.split, r.true, p.tolist(), cal.threshold, r.uncalibrated)
        )
    return out


def compute_metrics(
    classes: Sequence[str],
    fold_info: Sequence[dict[str, Any]],
    rows: Sequence[PredRow],
    calibration: Any = None,
) -> dict[str, Any]:
    """Per-fold metrics, summary, pooled OOF confusion, mean ROC and ensemble test metrics.

    ``fold_info`` holds the per-fold facts the predictions cannot tell (fold, n_train,
    best_epoch, epochs_run, stopped_early). Each fold's metrics are at the threshold its rows
    carry: with a ``calibration`` (a CrossFit, training/recipe/cross_fit.py) the one chosen on the
    other folds' predictions, whose temperature also calibrates them; without one 0.5 on the
    raw probabilities. Each fold also keeps ``at_0.5`` (raw, 0.5: what the log says when the
    fold ends). The test metrics are at the threshold chosen on all out-of-fold predictions,
    with the 0.5 ones beside them under ``at_0.5``; ``calibration`` reports ECE before/after
    (after: cross-fitted). Multiclass runs add ``per_class_summary``.
    """
    folds = [_fold_metrics(info, rows, classes, calibration) for info in fold_info]
    oof = [r for r in rows if r.fold == 0 and r.split == "val" and r.true is not None]
    if not oof:  # a single --fold run: its fold rows are its out-of-fold predictions
        oof = [r for r in rows if r.fold > 0 and r.split == "val" and r.true is not None]
    out: dict[str, Any] = {
        "folds": folds,
        "summary": M.summarise(folds),
        "pooled_confusion": _pooled_confusion(oof, classes) if oof else None,
        "roc_mean": M.mean_roc([fm["roc"] for fm in folds]),
        "warnings": [],
    }
    if len(classes) > 2:
        out["per_class_summary"] = M.summarise_per_class(folds)
    threshold = calibration.threshold if calibration is not None else 0.5
    if calibration is not None:
        out["calibration"] = _calibration_report(calibration, rows, classes)
    test = [r for r in rows if r.fold == 0 and r.split == "test" and r.true is not None]
    if test:
        out["test"] = _test_metrics(test, rows, classes, threshold, calibration)
        out["test"]["n_models"] = len(fold_info)
    return out


def _fold_metrics(
    info: dict[str, Any], rows: Sequence[PredRow], classes: Sequence[str], calibration: Any
) -> dict[str, Any]:
    """One fold model on its validation items, at the threshold its rows carry (cross-fitted
    where the run has a calibration), with its ROC and training facts."""
    val = [r for r in rows if r.fold == info["fold"] and r.split == "val"]
    y = _truths(val)
    probs = np.asarray([r.probs for r in val]).reshape(-1, len(classes))
    threshold = val[0].threshold if val else 0.5
    fm: dict[str, Any] = {"fold": info["fold"], "n_train": info.get("n_train"), "n_val": len(val)}
    fm.update(M.classification_metrics(y, probs, classes, threshold))
    if calibration is not None:
        cal = calibration.for_row(info["fold"], "val")
        fm["calibrated_with"] = {"temperature": cal.temperature, "fitted_on": cal.fitted_on}
        if len(classes) == 2:
            fm["threshold_method"] = cal.method
            fm["threshold_chosen_on"] = cal.fitted_on
    raw = np.asarray([r.uncalibrated for r in val]).reshape(-1, len(classes))
    fm["at_0.5"] = _headline(M.classification_metrics(y, raw, classes))
    for key in ("best_epoch", "epochs_run", "stopped_early"):
        fm[key] = info.get(key)
    fm["roc"] = M.roc_curve_points(y, raw)
    return fm


def _pooled_confusion(oof: Sequence[PredRow], classes: Sequence[str]) -> list[list[int]]:
    """Every out-of-fold prediction together, each at its own row's threshold."""
    n = len(classes)
    cm = np.zeros((n, n), dtype=int)
    for r in oof:
        cm[int(r.true or 0), r.predicted()] += 1
    return cm.tolist()


def _calibration_report(
    calibration: Any, rows: Sequence[PredRow], classes: Sequence[str]
) -> dict[str, Any]:
    """The full calibration (what the test split and new items get), the ECE of the pooled
    out-of-fold predictions calibrated cross-fitted, and their metrics: ``oof_cross_fitted``
    (each fold's at the threshold chosen on the other folds) and ``oof_at_0.5`` (raw)."""
    from training.recipe.cross_fit import cross_fitted_ece

    cal: dict[str, Any] = calibration.full.to_json()
    cal["applies_to"] = "the test split and new items"
    fold_rows = [r for r in rows if r.fold > 0 and r.split == "val" and r.true is not None]
    cal["ece_after_in_sample"] = cal.pop("ece_after")
    cal["ece_after"] = cross_fitted_ece(calibration, fold_rows)
    cal["ece_after_how"] = (
        "cross-fitted: each fold's predictions calibrated with the temperature fitted on the "
        "other folds' predictions"
    )
    pooled = [r for r in rows if r.fold == 0 and r.split == "val" and r.true is not None]
    if pooled:
        y = [int(r.true) for r in pooled if r.true is not None]
        probs = np.asarray([r.probs for r in pooled])
        crossed = M.classification_metrics(y, probs, classes)
        crossed["confusion"] = _pooled_confusion(pooled, classes)
        for key, value in _recount(y, [r.predicted() for r in pooled], classes).items():
            crossed[key] = value
        crossed.pop("threshold", None)
        cal["oof_cross_fitted"] = {
            **_headline(crossed),
            "threshold": "each fold's chosen on the other folds' predictions",
        }
        raw = np.asarray([r.uncalibrated for r in pooled])
        cal["oof_at_0.5"] = _headline(M.classification_metrics(y, raw, classes))
    return cal


def _recount(y: Sequence[int], pred: Sequence[int], classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, precision, recall, specificity and F1 of given predicted classes."""
    from sklearn import metrics as skm

    yy, pp = np.asarray(y, dtype=int), np.asarray(pred, dtype=int)
    out: dict[str, Any] = {"accuracy": float(skm.accuracy_score(yy, pp))}
    if len(classes) == 2:
        out["precision"] = float(skm.precision_score(yy, pp, zero_division=0))
        out["recall"] = float(skm.recall_score(yy, pp, zero_division=0))
        out["f1"] = float(skm.f1_score(yy, pp, zero_division=0))
        negatives = yy == 0
        out["specificity"] = float((pp[negatives] == 0).mean()) if negatives.any() else None
    else:
        labels = list(range(len(classes)))
        out["f1"] = float(skm.f1_score(yy, pp, labels=labels, average="macro", zero_division=0))
    return out


def _test_metrics(
    test: Sequence[PredRow],
    rows: Sequence[PredRow],
    classes: Sequence[str],
    threshold: float,
    calibration: Any,
) -> dict[str, Any]:
    """The fold models' ensemble on the test split: metrics, confusion, its own ROC."""
    y = _truths(test)
    probs = np.asarray([r.probs for r in test])
    out = M.classification_metrics(y, probs, classes, threshold)
    out["roc"] = M.roc_curve_points(y, probs)
    if calibration is None:
        return out
    from training.recipe.calibration import expected_calibration_error

    out["threshold_method"] = calibration.full.method
    out["threshold_chosen_on"] = calibration.full.fitted_on
    raw = np.asarray([r.uncalibrated for r in test])
    out["at_0.5"] = _headline(M.classification_metrics(y, raw, classes))
    out["ece_before"] = expected_calibration_error(raw, y) if len(raw) else None
    out["ece"] = expected_calibration_error(probs, y)
    return out


HEADLINE = ("n", "accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "threshold")


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in HEADLINE if k in metrics}


def db_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The compact part of metrics.json kept in the database (``runs`` lists it)."""
    keep = (
        "task",
        "classes",
        "model",
        "device",
        "summary",
        "test",
        "leakage",
        "timing",
        "model_info",
        "status",
        "calibration",
    )
    out = {k: metrics[k] for k in keep if k in metrics}
    if "test" in out:
        out["test"] = {k: v for k, v in out["test"].items() if k != "roc"}
    out["folds"] = [{k: v for k, v in f.items() if k != "roc"} for f in metrics.get("folds", [])]
    return out
