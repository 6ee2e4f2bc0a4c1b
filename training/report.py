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

from medview.core.run_folder import RunFolder, read_history_csv, write_history_csv
from medview.core.run_folder import write_json as write_json  # re-exported for older callers
from training import metrics as M


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
    """
    folds = []
    curves = []
    warnings: list[str] = []
    for info in fold_info:
        val = [r for r in rows if r.fold == info["fold"] and r.split == "val"]
        y = _truths(val)
        probs = np.asarray([r.probs for r in val])
        fm = {"fold": info["fold"], "n_train": info.get("n_train"), "n_val": len(val)}
        fm.update(M.classification_metrics(y, probs, classes))
        for key in ("best_epoch", "epochs_run", "stopped_early"):
            fm[key] = info.get(key)
        roc = M.roc_curve_points(y, probs)
        fm["roc"] = roc
        curves.append(roc)
        if fm.get("roc_auc") == 1.0:
            warnings.append(
                f"fold {info['fold']}: validation AUC is 1.0 - perfect separation is rare in "
                "real data; check for leakage (duplicates, one patient in several items, "
                "class-specific file formats or sizes)"
            )
        folds.append(fm)
    oof = [r for r in rows if r.fold > 0 and r.split == "val"]
    out: dict[str, Any] = {
        "folds": folds,
        "summary": M.summarise(folds),
        "pooled_confusion": M.pooled_confusion(
            _truths(oof),
            np.asarray([r.probs for r in oof]).reshape(-1, len(classes)),
            len(classes),
        )
        if oof
        else None,
        "roc_mean": M.mean_roc(curves),
        "warnings": warnings,
    }
    test = [r for r in rows if r.fold == 0 and r.split == "test" and r.true is not None]
    threshold = calibration.threshold if calibration is not None else 0.5
    if calibration is not None:
        cal = calibration.to_json()
        pooled = [r for r in rows if r.fold == 0 and r.split == "val" and r.true is not None]
        if pooled:
            y = [int(r.true) for r in pooled if r.true is not None]
            probs = np.asarray([r.probs for r in pooled])
            # In-sample for the threshold (it was chosen on these rows): for reference only.
            cal["oof_at_threshold"] = _headline(
                M.classification_metrics(y, probs, classes, threshold)
            )
            cal["oof_at_0.5"] = _headline(M.classification_metrics(y, probs, classes))
        out["calibration"] = cal
    if test:
        y = _truths(test)
        probs = np.asarray([r.probs for r in test])
        test_metrics = M.classification_metrics(y, probs, classes, threshold)
        test_metrics["roc"] = M.roc_curve_points(y, probs)
        test_metrics["n_models"] = len(fold_info)
        if calibration is not None:
            from training.calibration import expected_calibration_error

            test_metrics["threshold_method"] = calibration.method
            test_metrics["at_0.5"] = _headline(M.classification_metrics(y, probs, classes))
            raw = np.asarray([r.probs for r in ensemble_rows(rows, "test") if r.true is not None])
            raw_y = [r.true for r in ensemble_rows(rows, "test") if r.true is not None]
            test_metrics["ece_before"] = (
                expected_calibration_error(raw, raw_y) if len(raw) else None
            )
            test_metrics["ece"] = expected_calibration_error(probs, y)
        out["test"] = test_metrics
    return out


HEADLINE = ("n", "accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "threshold")


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in HEADLINE if k in metrics}


# ---------------------------------------------------------------------- plots
def write_plots(
    run_dir: Path,
    classes: Sequence[str],
    metrics: dict[str, Any],
    history: Sequence[dict[str, Any]],
) -> None:
    import matplotlib

    folder = RunFolder(run_dir)
    matplotlib.use("Agg")  # no display, no Qt: the worker and headless servers
    import matplotlib.pyplot as plt

    # ROC: every fold, the mean and the ±1 std band.
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for fm in metrics.get("folds", []):
        if fm.get("roc"):
            auc = fm.get("roc_auc")
            label = (
                f"fold {fm['fold']} (AUC {auc:.3f})" if auc is not None else f"fold {fm['fold']}"
            )
            ax.plot(fm["roc"]["fpr"], fm["roc"]["tpr"], lw=1, alpha=0.5, label=label)
    mean = metrics.get("roc_mean")
    if mean:
        fpr = np.asarray(mean["fpr"])
        tpr = np.asarray(mean["tpr_mean"])
        std = np.asarray(mean["tpr_std"])
        s = metrics.get("summary", {}).get("roc_auc", {})
        label = "mean"
        if s.get("mean") is not None:
            label = f"mean (AUC {s['mean']:.3f} ± {s['std']:.3f})"
        ax.plot(fpr, tpr, color="black", lw=2, label=label)
        ax.fill_between(
            fpr,
            np.clip(tpr - std, 0, 1),
            np.clip(tpr + std, 0, 1),
            color="grey",
            alpha=0.25,
            label="± 1 std",
        )
    if metrics.get("test", {}).get("roc"):
        t = metrics["test"]
        ax.plot(
            t["roc"]["fpr"],
            t["roc"]["tpr"],
            "--",
            color="#D55E00",
            lw=2,
            label=f"test ensemble (AUC {t.get('roc_auc') or 0:.3f})",
        )
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title("ROC (one-vs-rest macro)" if len(classes) > 2 else f"ROC ({classes[1]} positive)")
    ax.legend(loc="lower right", fontsize=7)
    _save(fig, folder.plot("roc"))
    plt.close(fig)

    # Confusion: pooled out-of-fold, counts and row-normalised.
    cm = np.asarray(metrics.get("pooled_confusion") or np.zeros((len(classes), len(classes))))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    for ax, data, title, fmt in (
        (axes[0], cm, "counts", "d"),
        (axes[1], norm, "row-normalised", ".2f"),
    ):
        ax.imshow(data, cmap="Blues", vmin=0)
        for (i, j), v in np.ndenumerate(data):
            color = "white" if data.max() and v > data.max() / 2 else "black"
            ax.text(
                j,
                i,
                format(int(v) if fmt == "d" else v, fmt),
                ha="center",
                va="center",
                color=color,
            )
        ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        ax.set(xlabel="predicted", ylabel="true", title=f"out-of-fold confusion ({title})")
    fig.tight_layout()
    _save(fig, folder.plot("confusion"))
    plt.close(fig)

    # Loss: train (solid) and validation (dashed) per fold.
    fig, ax = plt.subplots(figsize=(6, 4))
    for fold in sorted({int(r["fold"]) for r in history}):
        rs = [r for r in history if int(r["fold"]) == fold]
        (line,) = ax.plot(
            [r["epoch"] for r in rs], [r["train_loss"] for r in rs], label=f"fold {fold} train"
        )
        ax.plot(
            [r["epoch"] for r in rs],
            [r["val_loss"] for r in rs],
            "--",
            color=line.get_color(),
            label=f"fold {fold} val",
        )
    ax.set(xlabel="epoch", ylabel="loss", title="training and validation loss")
    if history:
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, folder.plot("loss"))
    plt.close(fig)


def _save(fig: Any, stem: Path) -> None:
    fig.savefig(stem.with_suffix(".png"), dpi=120)
    fig.savefig(stem.with_suffix(".svg"))


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
