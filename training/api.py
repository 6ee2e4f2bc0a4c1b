"""One training run, start to end: the engine behind `medview train`, `python -m training` and
the GUI's worker process. It reports through ``emit(message)`` and polls ``should_cancel()``.

Order of work: open the project, pick items/model/size, create the run (DB row + folder),
decode every item once into memory, plan folds, audit for leakage, train each fold (best epoch
kept, weights saved as safetensors, metrics.json rewritten after each fold so a cancelled or
crashed run keeps its completed folds), then ensemble the test (and unlabelled) items and
write the report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import sqlite3
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medview.core import messages as msg
from medview.core.errors import MedviewError
from medview.core.project import Project
from medview.core.run_folder import RunFolder
from training import ddp, near_dup_audit
from training.config import ConfigError, TrainConfig
from training.cross_validation import audit_leakage, audit_warnings, plan_splits
from training.data import DataError, LoadedData, choose_kind, input_channels, load_items
from training.folds import FoldTraining
from training.loop import (
    Cancelled,
    resolve_device,
)
from training.report import (
    PredRow,
    calibrated_rows,
    compute_metrics,
    db_metrics,
    final_rows,
)
from training.transforms import PrepSettings

Emit = Callable[[msg.Message], None]


@dataclass
class RunOutcome:
    run_id: str | None
    status: str  # finished | cancelled | failed
    run_dir: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def new_run_id(project: Project, model: str, fold: int | None) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{model}" + (f"-fold{fold}" if fold else "")
    run_id, n = base, 1
    while (project.runs_dir / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


class _Run(FoldTraining):
    """State of one run; methods are the steps. Only rank 0 writes files and the database."""

    def __init__(self, cfg: TrainConfig, emit: Emit, should_cancel: Callable[[], bool]) -> None:
        self.cfg = cfg
        self.emit_raw: Emit | None = emit
        self.should_cancel = should_cancel
        self.dist = ddp.init_from_env()
        self.lead = self.dist.rank == 0
        self.project = Project.open(cfg.project)
        self.run_id: str | None = None
        self.run_dir: Path | None = None
        self.log_lines: list[str] = []
        self.history: list[dict[str, Any]] = []
        self.rows: list[PredRow] = []
        self.fold_info: list[dict[str, Any]] = []
        self.test_probs: list[np.ndarray] = []
        self.started = time.perf_counter()
        self.train_samples = 0
        self.train_seconds = 0.0
        self.epochs_done = 0
        self.base: dict[str, Any] = {}
        self.staged: tuple[torch.Tensor, torch.Tensor | None] | None = None

    # ------------------------------------------------------------------ reporting
    def emit(self, message: msg.Message) -> None:
        if not self.lead or self.emit_raw is None:
            return
        try:
            self.emit_raw(message)
        except (BrokenPipeError, OSError, ValueError):
            # The listener went away (a closed pipe, `| head`): keep training, stop reporting.
            self.emit_raw = None

    def log(self, text: str, level: str = "info") -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self.log_lines.append(f"{stamp} {level.upper():7s} {text}")
        self.emit(msg.Log(text, level))
        if self.lead and self.run_dir is not None:
            # On a full disk the lines still go out as messages and stay in memory.
            with contextlib.suppress(OSError):
                RunFolder(self.run_dir).write_log(self.log_lines)

    # ------------------------------------------------------------------ steps
    def prepare(self) -> None:
        cfg = self.cfg
        cfg.validate()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        kind = choose_kind(self.project, cfg)
        labelled = self.project.items(labelled=True)
        self.items = [it for it in labelled if it.kind == kind]
        other = len(labelled) - len(self.items)
        all_classes = self.project.class_names()
        present = {it.label for it in self.items}
        self.classes = [c for c in all_classes if c in present]
        if len(self.classes) < 2:
            raise DataError(
                f"{self.project.folder}: need labelled {kind} items of at least two classes "
                f"(found: {', '.join(sorted(present)) or 'none'})"
            )
        self.device = self.dist.device or resolve_device(cfg.device)
        self.auto_plan = None
        if cfg.auto:
            from training.auto import auto_settings, profile_items

            self.profile = profile_items(self.items, self.classes, kind)
            self.auto_plan = auto_settings(cfg, self.profile, self.device.type)
            cfg = self.cfg = dataclasses.replace(cfg, **self.auto_plan.values)
        self.model_name = cfg.resolved_model(kind)
        self.size = cfg.resolved_size(self.model_name)
        self.channels = input_channels(self.model_name, self.items)
        self.prep = PrepSettings(3 if kind == "3d" else 2, self.size, self.channels, cfg.ct_window)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick kernels
        self.kind = kind
        if cfg.run_id and self.lead:
            taken = {r.id for r in self.project.runs()}
            if cfg.run_id in taken or (self.project.runs_dir / cfg.run_id).exists():
                raise ConfigError(f"a run {cfg.run_id!r} already exists; choose another --run-id")
        self.finish_auto()
        cfg = self.cfg
        run_id = cfg.run_id or (
            new_run_id(self.project, self.model_name, cfg.fold) if self.lead else ""
        )
        self.run_id = self.dist.share(run_id)
        self.run_dir = self.project.runs_dir / self.run_id
        if self.lead:
            config = self.config_json()
            self.project.create_run(self.run_id, config, model=self.model_name)
            RunFolder(self.run_dir).write_config(config)
        self.announce()
        if other:
            self.log(
                f"{other} labelled item(s) of the other kind are not used by {self.model_name}"
            )
        unused = [c for c in all_classes if c not in present]
        if unused:
            self.log(f"classes without labelled items are left out: {', '.join(unused)}", "warning")
        self.log_plan()

    def config_json(self) -> dict[str, Any]:
        """config.json: every setting as the run uses it, and what Auto chose and why."""
        config = {
            **self.cfg.to_dict(),
            "model": self.model_name,
            "size": self.size,
            "run_id": self.run_id,
        }
        config["resolved"] = {
            "kind": self.kind,
            "classes": self.classes,
            "channels": self.channels,
            "device": str(self.device),
            "world_size": self.dist.world_size,
            "torch": torch.__version__,
        }
        if self.auto_plan is not None:
            config["resolved"]["auto"] = {
                **self.auto_plan.to_json(),
                "data": self.profile.to_json(),
                **getattr(self, "auto_extra", {}),
            }
        return config

    def split_sizes(self) -> tuple[int, int, int, int]:
        """(folds, training, validation, test items) per fold as the fold planner will make
        them (from the item counts; the exact folds come after loading)."""
        cfg = self.cfg
        test = sum(1 for it in self.items if it.split == "test")
        pool = len(self.items) - test
        if cfg.holdout:
            if not test:
                test = round(pool * cfg.holdout_fractions[0])
                pool -= test
            val = max(1, round(pool * cfg.holdout_fractions[1]))
            return 1, pool - val, val, test
        val = max(1, round(pool / cfg.folds))
        return (1 if cfg.fold else cfg.folds), pool - val, val, test

    def finish_auto(self) -> None:
        """What Auto can only choose with the device at hand: the batch size (a probe on
        warm-up batches at the input shape) and the epochs; then the time estimate."""
        from training.timing import estimate_run, probe_batch

        cfg = self.cfg
        folds, n_train, n_val, n_test = self.split_sizes()
        data = warmup_data(self.prep.shape, len(self.classes))
        choice = None
        if cfg.batch_size is None and self.auto_plan is not None and cfg.fold is not None:
            # Separate --fold runs (cluster jobs) must agree to be merged: no timing probe.
            from training.batch_size import data_cap

            size = min(32, data_cap(n_train, self.kind))
            reason = "a --fold run: the data-set cap up to 32, no probe (fold runs must agree)"
            self.auto_plan.choose("batch_size", size, reason)
            cfg = dataclasses.replace(cfg, batch_size=size)
        elif cfg.batch_size is None and self.auto_plan is not None:
            choice = probe_batch(self, data, n_train)
            self.auto_plan.choose("batch_size", choice.batch_size, choice.reason)
            cfg = dataclasses.replace(cfg, batch_size=choice.batch_size)
        if cfg.auto and self.auto_plan is not None:
            from training.auto import auto_epochs

            bs = cfg.batch_size or 8
            auto_epochs(cfg, n_train, bs, self.auto_plan, cfg.warmup_epochs is not None)
            cfg = dataclasses.replace(
                cfg,
                **{
                    k: self.auto_plan.values[k]
                    for k in ("epochs", "warmup_epochs")
                    if k in self.auto_plan.values
                },
            )
        self.cfg = cfg = cfg.with_defaults()
        sizes = (folds, n_train, n_val, n_test)
        self.estimate = estimate_run(self, data, sizes, choice)
        if cfg.auto and self.auto_plan is not None and "epochs" in self.auto_plan.values:
            from training.auto import fit_time_budget

            if fit_time_budget(cfg, self.auto_plan, self.estimate):
                cfg = self.cfg = dataclasses.replace(
                    cfg,
                    epochs=self.auto_plan.values["epochs"],
                    warmup_epochs=self.auto_plan.values["warmup_epochs"],
                )
                self.estimate = estimate_run(self, data, sizes, choice)
        self.auto_extra = {
            "batch_probe": choice.to_json() if choice else None,
            "estimate": self.estimate,
        }

    def log_plan(self) -> None:
        cfg, estimate = self.cfg, self.estimate
        if self.auto_plan is not None:
            self.log("Auto plan (docs/auto.md):")
            for line in self.auto_plan.lines():
                self.log(f"  {line}")
        self.log(
            f"estimated time: {estimate['seconds']:.0f} s for {estimate['folds']} fold(s) x "
            f"{cfg.epochs} epochs ({estimate['samples_per_second']:.1f} training samples/s "
            "measured on warm-up batches)"
        )

    def announce(self) -> None:
        cfg, estimate = self.cfg, self.estimate
        planned = (
            [1] if cfg.holdout else ([cfg.fold] if cfg.fold else list(range(1, cfg.folds + 1)))
        )
        self.emit(
            msg.Started(
                self.run_id,
                msg.RunPlan(
                    model=self.model_name,
                    kind=self.kind,
                    classes=list(self.classes),
                    folds=planned,
                    epochs=cfg.epochs,
                    items=len(self.items),
                    test_items=sum(1 for it in self.items if it.split == "test"),
                    size=self.size,
                    device=str(self.device),
                    run_dir=str(self.run_dir),
                    batch_size=cfg.batch_size,
                    auto=self.auto_plan.to_json() if self.auto_plan else None,
                    estimated_seconds=(estimate or {}).get("seconds"),
                ),
            )
        )

    def load(self) -> LoadedData:
        step = max(1, len(self.items) // 20)

        def progress(done: int, total: int) -> None:
            if done % step == 0 or done == total:  # ~20 messages, not one per item
                self.emit(msg.Progress("loading", done, total))

        t0 = time.perf_counter()
        data = load_items(
            self.project,
            self.items,
            self.prep,
            self.classes,
            use_cache=self.cfg.cache,
            progress=progress,
            should_cancel=self.should_cancel,
        )
        if self.should_cancel():
            raise Cancelled()
        for line in data.skipped:
            self.log(f"skipped {line}", "warning")
        for line in data.notes:
            self.log(line, "warning")
        self.log(
            f"loaded {len(data.items)} items as {tuple(data.x.shape[1:])} tensors in "
            f"{time.perf_counter() - t0:.1f} s ({data.cache_hits} from cache)"
        )
        return data

    def audit_warnings(self) -> list[str]:
        grouped = self.cfg.near_duplicate_groups
        return audit_warnings(self.audit) + near_dup_audit.warnings(self.audit, grouped)

    def plan(self, data: LoadedData) -> None:
        ids = [it.id for it in data.items]
        groups = [it.group for it in data.items]
        near = near_dup_audit.clusters(self.project, data.items)
        if self.cfg.near_duplicate_groups and near:
            groups = near_dup_audit.groups_with_clusters(groups, near)
            self.log(f"{len(near)} near-duplicate cluster(s) kept together as split groups")
        self.plan_ = plan_splits(
            data.y.tolist(),
            groups,
            [it.split for it in data.items],
            ids,
            n_folds=self.cfg.folds,
            seed=self.cfg.seed,
            holdout=self.cfg.holdout,
            holdout_fractions=self.cfg.holdout_fractions,
        )
        self.audit = audit_leakage(self.plan_, [it.content_hash for it in data.items], groups, ids)
        self.audit.update(near_dup_audit.audit(self.plan_, near, ids))
        for note in self.plan_.notes:
            self.log(note)
        marked_val = sum(1 for it in data.items if it.split == "val")
        if marked_val and self.plan_.mode == "kfold":
            self.log(f"{marked_val} item(s) marked 'val' take part in the k-fold rotation")
        for warning in self.audit_warnings():
            self.log(f"leakage audit: {warning}", "warning")
        self.folds = [f for f in self.plan_.folds if self.cfg.fold in (None, f.number)]
        self.base = {
            "task": "binary" if len(self.classes) == 2 else "multiclass",
            "classes": self.classes,
            "model": self.model_name,
            "device": str(self.device),
            "mode": self.plan_.mode,
            "folds_planned": len(self.plan_.folds),
            "split_plan": self.plan_.to_json(ids),
        }
        self.log(
            f"{self.plan_.mode}: {len(self.plan_.folds)} fold(s), "
            f"{len(self.plan_.test)} test item(s), grouped: {self.plan_.grouped}"
        )

    def calibration(self):  # -> Calibration | None
        """Temperature and threshold fitted on the pooled out-of-fold predictions so far (a
        single --fold run has no pool: its rows stay at 0.5, uncalibrated)."""
        if self.cfg.fold is not None or not self.fold_info:
            return None
        oof = [r for r in self.rows if r.fold > 0 and r.split == "val"]
        if not oof:
            return None
        from training.calibration import fit_calibration

        return fit_calibration(
            np.asarray([r.probs for r in oof]),
            [r.true for r in oof],
            calibrate=self.cfg.calibrate,
            threshold=self.cfg.threshold,
            target_recall=self.cfg.target_recall,
        )

    def all_rows(self, extra: list[PredRow] | None = None, calibration=None) -> list[PredRow]:
        rows = list(self.rows)
        if len(self.fold_info) > 0 and self.cfg.fold is None:
            rows += final_rows(self.rows, calibration or self.calibration())
        return rows + (extra or [])

    def write_report(
        self, final: bool, extra: list[PredRow] | None = None, status: str = "running"
    ) -> dict[str, Any]:
        from training.report import write_plots, write_predictions

        calibration = self.calibration()
        rows = self.all_rows(extra, calibration)
        metrics = {
            **self.base,
            **compute_metrics(self.classes, self.fold_info, rows, calibration),
        }
        metrics["leakage"] = self.audit
        metrics["warnings"] += self.audit_warnings()
        if final:
            for warning in metrics["warnings"]:
                if warning.startswith("fold "):
                    self.log(warning, "warning")
        metrics["status"] = status
        total = time.perf_counter() - self.started
        metrics["timing"] = {
            "total_seconds": round(total, 3),
            "train_seconds": round(self.train_seconds, 3),
            "train_samples_per_second": round(self.train_samples / self.train_seconds, 3)
            if self.train_seconds
            else None,
        }
        assert self.run_dir is not None
        folder = RunFolder(self.run_dir)
        folder.write_metrics(metrics)
        folder.write_history(self.history)
        names = {it.id: it.name for it in self.project.items()}
        write_predictions(folder.predictions, rows, self.classes, names)
        if final:
            write_plots(self.run_dir, self.classes, metrics, self.history)
        return metrics

    def predict_unlabelled(self) -> list[PredRow]:
        """The fold ensemble on unlabelled items of the same kind (shown beside each image)."""
        items = [it for it in self.project.items(labelled=False) if it.kind == self.kind]
        if not items or not self.cfg.predict_unlabelled or self.cfg.fold is not None:
            return []
        from training.predict import ensemble_predict

        probs, kept = ensemble_predict(
            self.project,
            self.run_dir,
            self.model_name,
            len(self.classes),
            self.channels,
            self.prep,
            items,
            self.device,
            self.cfg.batch_size,
            self.cfg.cache,
            [f["fold"] for f in self.fold_info],
            bool(self.cfg.tta),
        )
        rows = [
            PredRow(it.id, 0, None, None, p.tolist()) for it, p in zip(kept, probs, strict=True)
        ]
        return calibrated_rows(rows, self.calibration())

    def store_predictions(self, rows: list[PredRow]) -> None:
        self.project.add_predictions(
            self.run_id,
            [(r.item_id, r.fold, r.split, r.probs, self.classes[r.predicted()]) for r in rows],
        )


def warmup_data(shape: tuple[int, ...], n_classes: int, n: int = 16) -> LoadedData:
    """Random items at the input shape for the warm-up batches (speed does not depend on
    the pixel values, and the probe then runs before any item is decoded)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((n, *shape), generator=generator)
    return LoadedData([], x, torch.arange(n) % n_classes)


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
    run = _Run(cfg, emit, should_cancel)
    try:
        run.prepare()
    except BaseException:
        run.project.close()
        run.dist.close()
        raise
    try:
        data = run.load()
        run.plan(data)
        run.train_folds(data)
        extra = run.predict_unlabelled() if run.lead else []
        if run.lead:
            metrics = run.write_report(final=True, extra=extra, status="finished")
            run.store_predictions(run.all_rows(extra))
            summary = {k: v.get("mean") for k, v in metrics["summary"].items()}
            run.project.finish_run(run.run_id, "finished", db_metrics(metrics))
            run.log(f"run {run.run_id} finished in {metrics['timing']['total_seconds']:.1f} s")
            run.emit(msg.Finished(run.run_id, str(run.run_dir), summary))
            return RunOutcome(run.run_id, "finished", run.run_dir, metrics)
        return RunOutcome(run.run_id, "finished", run.run_dir)
    except (Cancelled, KeyboardInterrupt):
        done = [f["fold"] for f in run.fold_info]
        if run.lead:
            metrics = run.write_report(final=True, status="cancelled") if run.base else {}
            if done:
                run.store_predictions(run.all_rows())
            run.log(f"cancelled; completed folds kept: {done or 'none'}", "warning")
            run.project.finish_run(
                run.run_id,
                "cancelled",
                db_metrics(metrics) if metrics else None,
                "cancelled by the user",
            )
            run.emit(msg.Cancelled(run.run_id, done))
        return RunOutcome(run.run_id, "cancelled", run.run_dir)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, MedviewError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            reason = "the GPU ran out of memory: lower --batch-size or --size"
        elif isinstance(exc, MemoryError):
            reason = "ran out of memory: lower --batch-size or --size, or train on fewer items"
        elif _disk_full(exc):
            where = getattr(exc, "filename", None) or run.run_dir or run.project.folder
            reason = f"the disk is full ({where}): free some space and run again"
        if run.lead:
            # On a full disk these writes can fail too; the run must still end with its
            # message (a run left 'running' is marked interrupted on the next open).
            with contextlib.suppress(OSError, sqlite3.Error, MedviewError):
                run.project.finish_run(run.run_id, "failed", None, reason)
            run.log(f"failed: {reason}", "error")
            run.log(traceback.format_exc(), "debug")
            run.emit(msg.Failed(reason, run.run_id, traceback.format_exc()))
        return RunOutcome(run.run_id, "failed", run.run_dir, error=reason)
    finally:
        run.project.close()
        run.dist.close()
