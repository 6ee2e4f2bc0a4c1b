"""The run's report, rewritten after every fold so completed folds survive a cancel or crash:
metrics.json, history.csv, predictions.csv (and the plots at the end), calibrated cross-fitted
on the out-of-fold predictions; plus the fold ensemble on unlabelled items and the predictions kept
in the project database."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from medview.core.run_folder import RunFolder
from training.engine import near_dup_audit
from training.engine.cross_validation import audit_warnings as split_audit_warnings
from training.engine.report import PredRow, calibrated_rows, compute_metrics, final_rows
from training.engine.run_context import RunContext, RunRecord
from training.recipe import label_giveaway
from training.recipe.imbalance import imbalance_note


def audit_warnings(ctx: RunContext, record: RunRecord) -> list[str]:
    """Leakage named by its evidence: copies, near-copies or groups on both sides of a split,
    a label the file format, size, folder or name gives away (never a high AUC alone)."""
    grouped = ctx.cfg.near_duplicate_groups
    return (
        split_audit_warnings(record.audit)
        + near_dup_audit.warnings(record.audit, grouped)
        + label_giveaway.warnings(ctx.items, ctx.classes)
    )


def calibration(ctx: RunContext, record: RunRecord):  # -> CrossFit | None
    """Temperature and threshold fitted on the out-of-fold predictions so far, cross-fitted
    (training/recipe/cross_fit.py): each fold's on the other folds', the test split's and new items'
    on all of them. A single --fold run has no pool: its rows stay at 0.5, uncalibrated."""
    if ctx.cfg.fold is not None or not record.fold_info:
        return None
    oof = [r for r in record.rows if r.fold > 0 and r.split == "val"]
    if not oof:
        return None
    return fit_run_calibration(
        [int(f["fold"]) for f in record.fold_info],
        oof,
        {
            "calibrate": ctx.cfg.calibrate,
            "threshold": ctx.cfg.threshold,
            "target_recall": ctx.cfg.target_recall,
        },
    )


def fit_run_calibration(folds: list[int], oof: list[PredRow], settings: dict[str, Any]):
    """The CrossFit of a run's out-of-fold rows with its config's calibration settings."""
    from training.recipe.calibration import fit_calibration
    from training.recipe.cross_fit import fit_cross

    def fit(probs: np.ndarray, y: Any):  # -> Calibration
        return fit_calibration(
            probs,
            y,
            calibrate=settings.get("calibrate", True),
            threshold=settings.get("threshold") or "youden",
            target_recall=settings.get("target_recall"),
        )

    return fit_cross(folds, oof, fit)


def all_rows(
    ctx: RunContext, record: RunRecord, extra: list[PredRow] | None = None, fitted=None
) -> list[PredRow]:
    """The folds' rows (calibrated), the ensemble's (all folds of one run) and ``extra``."""
    fitted = fitted or calibration(ctx, record)
    rows = calibrated_rows(record.rows, fitted)
    if len(record.fold_info) > 0 and ctx.cfg.fold is None:
        rows += final_rows(record.rows, fitted)
    return rows + (extra or [])


def _log_final(ctx: RunContext, metrics: dict[str, Any]) -> None:
    """The end of a run's log: the imbalance warning (the audit's are logged at the plan) and
    each fold's figures as the table shows them."""
    for warning in metrics["warnings"]:
        if warning.startswith("Imbalanced"):
            ctx.log(warning, "warning")
    for line in fold_figure_lines(metrics):
        ctx.log(line)


def write_report(
    ctx: RunContext,
    record: RunRecord,
    final: bool,
    extra: list[PredRow] | None = None,
    status: str = "running",
) -> dict[str, Any]:
    from training.engine.report import write_plots, write_predictions

    fitted = calibration(ctx, record)
    rows = all_rows(ctx, record, extra, fitted)
    metrics = {**record.header, **compute_metrics(ctx.classes, record.fold_info, rows, fitted)}
    metrics["leakage"] = record.audit
    metrics["warnings"] += audit_warnings(ctx, record)
    note = imbalance_note(class_counts(rows, ctx.classes), ctx.cfg)
    if note:
        metrics["imbalance"] = note
        metrics["warnings"].append(note)
    if final:
        _log_final(ctx, metrics)
    metrics["status"] = status
    metrics["timing"] = _timing(ctx, record)
    screening = ctx.auto_plan.screening if ctx.auto_plan is not None else None
    if screening:  # what the model choice saw, so the fold scores can be read for what they are
        metrics["model_choice"] = {"winner": screening["winner"], "note": screening["note"]}
    if ctx.cfg.slices:  # slice, volume and patient levels; slices.csv, patients.csv
        from training.slice_mode import run as slice_run

        slice_run.add_to_report(ctx, record, metrics, final)
    folder = RunFolder(ctx.run_dir)
    folder.write_metrics(metrics)
    folder.write_history(record.history)
    names = {it.id: it.name for it in ctx.project.items()}
    write_predictions(folder.predictions, rows, ctx.classes, names)
    if final:
        write_plots(ctx.run_dir, ctx.classes, metrics, record.history)
    return metrics


def fold_figure_lines(metrics: dict[str, Any]) -> list[str]:
    """The figures the metrics table shows per fold, with the threshold each is counted at
    (the per-fold lines logged as folds end are at 0.5, uncalibrated: the log says which)."""
    if "calibration" not in metrics:
        return []
    lines = []
    for fm in metrics.get("folds", []):
        accuracy = fm.get("accuracy")
        if accuracy is None:
            continue
        where = fm.get("threshold_chosen_on") or ""
        at = f"at threshold {fm.get('threshold'):.3f} chosen on the {where}" if where else ""
        if where.startswith("no other folds"):
            at = "at threshold 0.5, uncalibrated: no other fold to choose one on"
        lines.append(
            f"fold {fm['fold']} (as in the table): accuracy {accuracy:.3f}"
            + (f", {at}" if at else ", arg-max of calibrated probabilities")
        )
    return lines


def class_counts(rows: list[PredRow], classes: list[str]) -> dict[str, int]:
    """Labelled items of the run per class (each item once, whichever rows it has)."""
    truth = {r.item_id: r.true for r in rows if r.true is not None}
    return {c: sum(1 for t in truth.values() if t == k) for k, c in enumerate(classes)}


def _timing(ctx: RunContext, record: RunRecord) -> dict[str, Any]:
    seconds = record.train_seconds
    return {
        "total_seconds": round(time.perf_counter() - ctx.started, 3),
        "train_seconds": round(seconds, 3),
        "train_samples_per_second": round(record.train_samples / seconds, 3) if seconds else None,
    }


def predict_unlabelled(ctx: RunContext, record: RunRecord) -> list[PredRow]:
    """The fold ensemble on unlabelled items of the same kind (shown beside each image)."""
    if ctx.cfg.slices:
        from training.slice_mode import run as slice_run

        return slice_run.predict_unlabelled(ctx, record)
    items = [it for it in ctx.project.items(labelled=False) if it.kind == ctx.kind]
    if not items or not ctx.cfg.predict_unlabelled or ctx.cfg.fold is not None:
        return []
    from training.engine.predict import ensemble_predict

    probs, kept = ensemble_predict(
        ctx.project,
        ctx.run_dir,
        ctx.model_name,
        len(ctx.classes),
        ctx.channels,
        ctx.prep,
        items,
        ctx.device,
        ctx.batch_size,
        ctx.cfg.cache,
        record.folds_done,
        bool(ctx.cfg.tta),
    )
    rows = [PredRow(it.id, 0, None, None, p.tolist()) for it, p in zip(kept, probs, strict=True)]
    return calibrated_rows(rows, calibration(ctx, record))


def store_predictions(ctx: RunContext, rows: list[PredRow]) -> None:
    ctx.project.add_predictions(
        ctx.run_id,
        [(r.item_id, r.fold, r.split, r.probs, ctx.classes[r.predicted()]) for r in rows],
    )
