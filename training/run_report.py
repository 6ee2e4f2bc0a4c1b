"""The run's report, rewritten after every fold so completed folds survive a cancel or crash:
metrics.json, history.csv, predictions.csv (and the plots at the end), calibrated on the pooled
out-of-fold predictions; plus the fold ensemble on unlabelled items and the predictions kept
in the project database."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from medview.core.run_folder import RunFolder
from training import near_dup_audit
from training.cross_validation import audit_warnings as split_audit_warnings
from training.imbalance import imbalance_note
from training.report import PredRow, calibrated_rows, compute_metrics, final_rows
from training.run_context import RunContext, RunRecord


def audit_warnings(ctx: RunContext, record: RunRecord) -> list[str]:
    grouped = ctx.cfg.near_duplicate_groups
    return split_audit_warnings(record.audit) + near_dup_audit.warnings(record.audit, grouped)


def calibration(ctx: RunContext, record: RunRecord):  # -> Calibration | None
    """Temperature and threshold fitted on the pooled out-of-fold predictions so far (a
    single --fold run has no pool: its rows stay at 0.5, uncalibrated)."""
    if ctx.cfg.fold is not None or not record.fold_info:
        return None
    oof = [r for r in record.rows if r.fold > 0 and r.split == "val"]
    if not oof:
        return None
    from training.calibration import fit_calibration

    return fit_calibration(
        np.asarray([r.probs for r in oof]),
        [r.true for r in oof if r.true is not None],  # out-of-fold rows are labelled
        calibrate=ctx.cfg.calibrate,
        threshold=ctx.cfg.threshold,
        target_recall=ctx.cfg.target_recall,
    )


def all_rows(
    ctx: RunContext, record: RunRecord, extra: list[PredRow] | None = None, fitted=None
) -> list[PredRow]:
    """The folds' rows, the ensemble's (all folds of one run) and ``extra`` (unlabelled)."""
    rows = list(record.rows)
    if len(record.fold_info) > 0 and ctx.cfg.fold is None:
        rows += final_rows(record.rows, fitted or calibration(ctx, record))
    return rows + (extra or [])


def write_report(
    ctx: RunContext,
    record: RunRecord,
    final: bool,
    extra: list[PredRow] | None = None,
    status: str = "running",
) -> dict[str, Any]:
    from training.report import write_plots, write_predictions

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
        for warning in metrics["warnings"]:
            if warning.startswith(("fold ", "Imbalanced")):
                ctx.log(warning, "warning")
    metrics["status"] = status
    metrics["timing"] = _timing(ctx, record)
    screening = ctx.auto_plan.screening if ctx.auto_plan is not None else None
    if screening:  # what the model choice saw, so the fold scores can be read for what they are
        metrics["model_choice"] = {"winner": screening["winner"], "note": screening["note"]}
    if ctx.cfg.slices:  # slice, volume and patient levels; slices.csv, patients.csv
        from training import slice_run

        slice_run.add_to_report(ctx, record, metrics, final)
    folder = RunFolder(ctx.run_dir)
    folder.write_metrics(metrics)
    folder.write_history(record.history)
    names = {it.id: it.name for it in ctx.project.items()}
    write_predictions(folder.predictions, rows, ctx.classes, names)
    if final:
        write_plots(ctx.run_dir, ctx.classes, metrics, record.history)
    return metrics


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
        from training import slice_run

        return slice_run.predict_unlabelled(ctx, record)
    items = [it for it in ctx.project.items(labelled=False) if it.kind == ctx.kind]
    if not items or not ctx.cfg.predict_unlabelled or ctx.cfg.fold is not None:
        return []
    from training.predict import ensemble_predict

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
