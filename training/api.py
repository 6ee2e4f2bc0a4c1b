"""One training run, start to end: the engine behind `medview train`, `python -m training` and
the GUI's worker process. It reports through ``emit(message)`` and polls ``should_cancel()``.

Order of work: open the project, pick items/model/size, create the run (DB row + folder),
decode every item once into memory, plan folds, audit for leakage, train each fold (best epoch
kept, weights saved as safetensors, metrics.json rewritten after each fold so a cancelled or
crashed run keeps its completed folds), then ensemble the test (and unlabelled) items and
write the report.

The steps are functions of the run's explicit state: ``training.run_setup.prepare`` returns the
``RunContext`` (training/run_context.py), ``training.run_data`` loads and plans,
``training.folds.train_folds`` trains into a ``RunRecord`` and ``training.run_report`` writes it.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from medview.core import messages as msg
from medview.core.errors import MedviewError
from medview.core.project import Project
from training import ddp
from training.config import TrainConfig
from training.folds import train_folds
from training.loop import Cancelled
from training.report import db_metrics
from training.run_context import Emit, Reporter, RunContext, RunRecord
from training.run_data import load, plan
from training.run_report import all_rows, predict_unlabelled, store_predictions, write_report
from training.run_setup import new_run_id, prepare

__all__ = ["Emit", "RunOutcome", "new_run_id", "run_training"]


@dataclass
class RunOutcome:
    run_id: str | None
    status: str  # finished | cancelled | failed
    run_dir: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # SQLite says it in words; safetensors and numpy may wrap the OSError.
    text = str(exc).lower()
    return "disk is full" in text or "no space left" in text


def run_training(
    cfg: TrainConfig,
    emit: Emit = lambda m: None,
    should_cancel: Callable[[], bool] = lambda: False,
) -> RunOutcome:
    """Run (and record) one training run. Never raises for a run that had started: the
    outcome says finished/cancelled/failed; a config or project error before the run exists
    raises ``MedviewError``."""
    started = time.perf_counter()
    dist = ddp.init_from_env()
    project = Project.open(cfg.project)
    reporter = Reporter(emit, dist.rank == 0)
    try:
        ctx = prepare(cfg, project, dist, reporter, should_cancel, started)
    except BaseException:
        project.close()
        dist.close()
        raise
    record = RunRecord()
    data = None
    try:
        data = load(ctx)
        train_folds(ctx, data, plan(ctx, data, record), record)
        return _finished(ctx, record)
    except (Cancelled, KeyboardInterrupt):
        return _cancelled(ctx, record)
    except Exception as exc:
        return _failed(ctx, exc)
    finally:
        if data is not None:
            data.close()  # a streamed run's store: unmapped (and deleted when private)
        project.close()
        dist.close()


def _finished(ctx: RunContext, record: RunRecord) -> RunOutcome:
    """The ensemble (test and unlabelled items), the final report, the database row."""
    if not ctx.lead:
        return RunOutcome(ctx.run_id, "finished", ctx.run_dir)
    extra = predict_unlabelled(ctx, record)
    metrics = write_report(ctx, record, final=True, extra=extra, status="finished")
    store_predictions(ctx, all_rows(ctx, record, extra))
    summary = {k: v.get("mean") for k, v in metrics["summary"].items()}
    ctx.project.finish_run(ctx.run_id, "finished", db_metrics(metrics))
    ctx.log(f"run {ctx.run_id} finished in {metrics['timing']['total_seconds']:.1f} s")
    ctx.emit(msg.Finished(ctx.run_id, str(ctx.run_dir), summary))
    return RunOutcome(ctx.run_id, "finished", ctx.run_dir, metrics)


def _cancelled(ctx: RunContext, record: RunRecord) -> RunOutcome:
    """Completed folds are kept: their report, predictions and weights."""
    done = record.folds_done
    if ctx.lead:
        metrics = write_report(ctx, record, final=True, status="cancelled") if record.header else {}
        if done:
            store_predictions(ctx, all_rows(ctx, record))
        ctx.log(f"cancelled; completed folds kept: {done or 'none'}", "warning")
        ctx.project.finish_run(
            ctx.run_id,
            "cancelled",
            db_metrics(metrics) if metrics else None,
            "cancelled by the user",
        )
        ctx.emit(msg.Cancelled(ctx.run_id, done))
    return RunOutcome(ctx.run_id, "cancelled", ctx.run_dir)


def _failure_reason(exc: Exception, ctx: RunContext) -> str:
    """What went wrong, in words that say what to do about it."""
    reason = str(exc) if isinstance(exc, MedviewError) else f"{type(exc).__name__}: {exc}"
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        reason = "the GPU ran out of memory: lower --batch-size or --size"
    elif isinstance(exc, MemoryError):
        reason = "ran out of memory: lower --batch-size or --size, or train on fewer items"
    elif _disk_full(exc):
        where = getattr(exc, "filename", None) or ctx.run_dir or ctx.project.folder
        reason = f"the disk is full ({where}): free some space and run again"
    return reason


def _failed(ctx: RunContext, exc: Exception) -> RunOutcome:
    reason = _failure_reason(exc, ctx)
    if ctx.lead:
        # On a full disk these writes can fail too; the run must still end with its
        # message (a run left 'running' is marked interrupted on the next open).
        with contextlib.suppress(OSError, sqlite3.Error, MedviewError):
            ctx.project.finish_run(ctx.run_id, "failed", None, reason)
        ctx.log(f"failed: {reason}", "error")
        ctx.log(traceback.format_exc(), "debug")
        ctx.emit(msg.Failed(reason, ctx.run_id, traceback.format_exc()))
    return RunOutcome(ctx.run_id, "failed", ctx.run_dir, error=reason)
