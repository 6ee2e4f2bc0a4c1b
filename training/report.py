"""The run folder (docs/DESIGN.md section 4): config.json, metrics.json, history.csv,
predictions.csv, roc/confusion/loss plots (PNG + SVG), per-fold weights (written by the
engine) and log.txt.

``predictions.csv`` columns: ``item_id, item_name, fold, split, true, prob_<class>...,
predicted``.
``fold`` 1..k are each fold model's predictions (its validation items, and the test items);
``fold`` 0 is the run's final prediction: the out-of-fold one for cross-validated items and
the fold-ensemble mean for test and unlabelled items. ``split`` is the item's role in this run
(``val``, ``test``, or empty for unlabelled items); ``true`` is empty for unlabelled items.

The metrics are computed from these rows, so a merge of per-fold runs (training/merge.py)
recomputes exactly what a full run writes.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medview.core.run_folder import read_history_csv, write_history_csv
from medview.core.run_folder import write_json as write_json  # re-exported for older callers
from training import metrics as M
from training.report_plots import write_plots as write_plots  # re-exported for older callers


@dataclass
class PredRow:
    item_id: int
    fold: int
    split: str | None
    true: int | None  # class index, None when unlabelled
    probs: list[float]
    threshold: float = 0.5  # binary: P(second class) at or above it predicts that class

    def predicted(self) -> int:
        return int(M.predicted_classes(np.asarray([self.probs]), self.threshold)[0])


def _truths(rows: Sequence[PredRow]) -> list[int]:
    """The true class indices of labelled rows (validation and test rows always are)."""
    return [r.true for r in rows if r.true is not None]


# Kept under their old names for callers of this module; RunFolder owns them.
write_history = write_history_csv
read_history = read_history_csv


def write_predictions(
    path: Path,
    rows: Sequence[PredRow],
    classes: Sequence[str],
    names: Mapping[int, str] | None = None,
) -> None:
    """``names`` (item id -> item name) adds an ``item_name`` column after ``item_id``, so the
    file can be read without the project; ``medview export`` drops it again (names can be
    patient identifiers)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        head = ["item_id"] + (["item_name"] if names is not None else [])
        writer.writerow(
            [*head, "fold", "split", "true", *[f"prob_{c}" for c in classes], "predicted"]
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
                    classes[r.predicted()],
                ]
            )


def read_predictions(path: Path, classes: Sequence[str]) -> list[PredRow]:
    index = {c: k for k, c in enumerate(classes)}
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            rows.append(
                PredRow(
                    int(raw["item_id"]),
                    int(raw["fold"]),
                    raw["split"] or None,
                    index[raw["true"]] if raw["true"] else None,
                    [float(raw[f"prob_{c}"]) for c in classes],
                )
            )
    return rows


def ensemble_rows(rows: Sequence[PredRow], split: str | None) -> list[PredRow]:
    """Fold-0 rows: the mean probability over folds of every item with ``split``."""
    by_item: dict[int, list[PredRow]] = {}
    for r in rows:
        if r.fold > 0 and r.split == split:
            by_item.setdefault(r.item_id, []).append(r)
    return [
        PredRow(i, 0, split, rs[0].true, np.mean([r.probs for r in rs], axis=0).tolist())
        for i, rs in sorted(by_item.items())
    ]


def final_rows(rows: Sequence[PredRow], calibration: Any = None) -> list[PredRow]:
    """Fold-0 rows: each validation item's out-of-fold prediction, each test item's ensemble;
    with a ``Calibration`` (training/calibration.py), temperature-scaled and thresholded."""
    oof = [
        PredRow(r.item_id, 0, "val", r.true, r.probs)
        for r in rows
        if r.fold > 0 and r.split == "val"
    ]
    out = sorted(oof, key=lambda r: r.item_id) + ensemble_rows(rows, "test")
    return calibrated_rows(out, calibration)


def calibrated_rows(rows: Sequence[PredRow], calibration: Any) -> list[PredRow]:
    if calibration is None or not rows:
        return list(rows)
    probs = calibration.apply(np.asarray([r.probs for r in rows]))
    return [
        PredRow(r.item_id, r.fold, r.split, r.true, p.tolist(), calibration.threshold)
        for r, p in zip(rows, probs, strict=True)
    ]


def compute_metrics(
    classes: Sequence[str],
    fold_info: Sequence[dict[str, Any]],
    rows: Sequence[PredRow],
    calibration: Any = None,
) -> dict[str, Any]:
    """Per-fold metrics, summary, pooled OOF confusion, mean ROC and ensemble test metrics.

    ``fold_info`` holds the per-fold facts the predictions cannot tell (fold, n_train,
    best_epoch, epochs_run, stopped_early). Fold metrics are at 0.5 on each fold model's raw
    probabilities. With a ``calibration`` (fitted on the pooled OOF predictions, which the
    fold-0 rows then carry calibrated), the test metrics are at its threshold, with the 0.5
    ones beside them under ``at_0.5``, and ``calibration`` reports ECE before/after.
    Multiclass runs add ``per_class_summary``: each class's metrics, mean and std over folds.
    """
    folds = [_fold_metrics(info, rows, classes) for info in fold_info]
    oof = [r for r in rows if r.fold > 0 and r.split == "val"]
    out: dict[str, Any] = {
        "folds": folds,
        "summary": M.summarise(folds),
        "pooled_confusion": _pooled_confusion(oof, classes) if oof else None,
        "roc_mean": M.mean_roc([fm["roc"] for fm in folds]),
        "warnings": [w for fm in folds if (w := _perfect_auc_warning(fm))],
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
    info: dict[str, Any], rows: Sequence[PredRow], classes: Sequence[str]
) -> dict[str, Any]:
    """One fold model on its validation items (at 0.5), with its ROC and training facts."""
    val = [r for r in rows if r.fold == info["fold"] and r.split == "val"]
    y = _truths(val)
    probs = np.asarray([r.probs for r in val])
    fm: dict[str, Any] = {"fold": info["fold"], "n_train": info.get("n_train"), "n_val": len(val)}
    fm.update(M.classification_metrics(y, probs, classes))
    for key in ("best_epoch", "epochs_run", "stopped_early"):
        fm[key] = info.get(key)
    fm["roc"] = M.roc_curve_points(y, probs)
    return fm


def _perfect_auc_warning(fm: dict[str, Any]) -> str | None:
    if fm.get("roc_auc") != 1.0:
        return None
    return (
        f"fold {fm['fold']}: validation AUC is 1.0 - perfect separation is rare in "
        "real data; check for leakage (duplicates, one patient in several items, "
        "class-specific file formats or sizes)"
    )


def _pooled_confusion(oof: Sequence[PredRow], classes: Sequence[str]) -> list[list[int]]:
    probs = np.asarray([r.probs for r in oof]).reshape(-1, len(classes))
    return M.pooled_confusion(_truths(oof), probs, len(classes))


def _calibration_report(
    calibration: Any, rows: Sequence[PredRow], classes: Sequence[str]
) -> dict[str, Any]:
    cal: dict[str, Any] = calibration.to_json()
    pooled = [r for r in rows if r.fold == 0 and r.split == "val" and r.true is not None]
    if pooled:
        y = [int(r.true) for r in pooled if r.true is not None]
        probs = np.asarray([r.probs for r in pooled])
        # In-sample for the threshold (it was chosen on these rows): for reference only.
        at_threshold = M.classification_metrics(y, probs, classes, calibration.threshold)
        cal["oof_at_threshold"] = _headline(at_threshold)
        cal["oof_at_0.5"] = _headline(M.classification_metrics(y, probs, classes))
    return cal


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
    from training.calibration import expected_calibration_error

    out["threshold_method"] = calibration.method
    out["at_0.5"] = _headline(M.classification_metrics(y, probs, classes))
    raw_rows = [r for r in ensemble_rows(rows, "test") if r.true is not None]
    raw = np.asarray([r.probs for r in raw_rows])
    out["ece_before"] = expected_calibration_error(raw, _truths(raw_rows)) if len(raw) else None
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
