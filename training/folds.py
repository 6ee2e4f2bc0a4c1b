"""Training the folds of a run: one fresh model per fold (pretrained weights, frozen encoder),
fit with early stopping, best-epoch predictions for validation and test items, safetensors
weights, and a report rewritten after every fold so completed folds survive a cancel or crash.

``train_folds(ctx, data, splits, record)``: the run's fixed facts come in ``ctx``, what the
folds produce goes into ``record``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from medview.core import messages as msg
from training.batches import Context, model_to_fast_layout, predict, stage_data
from training.cross_validation import Fold
from training.data import LoadedData
from training.freeze import apply_train_layers, set_train_mode
from training.loop import FitResult, fit, seed_everything
from training.models import build_model, model_info
from training.report import PredRow
from training.run_context import RunContext, RunRecord, Splits
from training.run_report import write_report
from training.transforms import build_augmentation
from training.weights import load_pretrained, save_weights, unwrap


def build_fold_model(ctx: RunContext, record: RunRecord) -> torch.nn.Module:
    """A fresh model for one fold: pretrained weights, frozen blocks, on the device."""
    model = build_model(ctx.model_name, len(ctx.classes), ctx.channels)
    if ctx.cfg.pretrained:
        report = load_pretrained(model, ctx.model_name, ctx.cfg.pretrained)
        ctx.log(report.summary())
        record.header["pretrained"] = report.to_json()
    trained = apply_train_layers(model, ctx.model_name, ctx.cfg.train_layers)
    if "model_info" not in record.header:
        info = model_info(model, ctx.model_name, ctx.channels, ctx.size)
        record.header["model_info"] = {**info, **trained.to_json()}
        ctx.log(trained.summary())
    return model_to_fast_layout(model.to(ctx.device), ctx.model_name, ctx.prep.ndim, ctx.device)


def train_folds(ctx: RunContext, data: LoadedData, splits: Splits, record: RunRecord) -> None:
    """Train every fold of ``splits`` in turn; each one's results go into ``record`` (and, on
    rank 0, to the run folder) before the next starts."""
    total_epochs = len(splits.folds) * ctx.epochs
    train_started = time.perf_counter()
    for fold in splits.folds:
        seed = ctx.cfg.seed + fold.number
        seed_everything(seed)
        # Augmentation before the model, as always: the model's random start depends on it.
        augment = build_augmentation(ctx.augment, ctx.prep.ndim, ctx.channels, seed)
        model = build_fold_model(ctx, record)
        on_epoch = _epoch_reporter(ctx, record, fold.number, total_epochs, train_started)
        loop_ctx = _loop_context(ctx, data, record, augment, on_epoch)
        fold_started = time.perf_counter()

        def set_mode(m: torch.nn.Module = model, layers: str = ctx.cfg.train_layers) -> None:
            set_train_mode(m, ctx.model_name, layers)

        result = fit(
            model,
            ctx.dist.wrap(model),
            ctx.cfg,
            loop_ctx,
            fold.train,
            fold.val,
            set_mode,
            fold.number,
        )
        record.epochs_done += ctx.epochs - result.epochs_run  # early stop: ETA shrinks
        model.load_state_dict(result.best_state)
        _keep_fold(ctx, data, splits, record, model, loop_ctx, fold, result, fold_started)
        if ctx.lead:
            _save_fold(ctx, record, model, fold, result)


def _loop_context(
    ctx: RunContext,
    data: LoadedData,
    record: RunRecord,
    augment: Callable[[torch.Tensor], torch.Tensor] | None,
    on_epoch: Callable[[dict[str, Any]], None],
) -> Context:
    """What ``fit`` needs besides the model: the data (pinned or uploaded once for all
    folds), this fold's augmentation, the callbacks and the DDP rank."""
    loop_ctx = Context(data.x, data.y, len(ctx.classes), ctx.device, augment, ctx.should_cancel)
    loop_ctx.rank, loop_ctx.world_size = ctx.dist.rank, ctx.dist.world_size
    loop_ctx.store = data.store  # a streamed run (``x`` is then empty)
    loop_ctx.on_epoch = on_epoch
    if record.staged is None:  # pin or upload the data once, not per fold
        stage_data(loop_ctx)
        record.staged = (loop_ctx.x, loop_ctx.x_device)
    loop_ctx.x, loop_ctx.x_device = record.staged
    return loop_ctx


def _epoch_reporter(
    ctx: RunContext, record: RunRecord, fold_no: int, total_epochs: int, train_started: float
) -> Callable[[dict[str, Any]], None]:
    """The Epoch message of each epoch, with the run's ETA (loading is not an epoch)."""

    def on_epoch(row: dict[str, Any]) -> None:
        record.epochs_done += 1
        rate = (time.perf_counter() - train_started) / record.epochs_done
        ctx.emit(
            msg.Epoch(
                ctx.run_id,
                fold_no,
                row["epoch"],
                ctx.epochs,
                row["train_loss"],
                row["val_loss"],
                row["val_auc"],
                row["val_accuracy"],
                row["lr"],
                row["seconds"],
                eta_seconds=rate * max(0, total_epochs - record.epochs_done),
                fraction_done=record.epochs_done / total_epochs,
                confusion=row.get("confusion"),
            )
        )

    return on_epoch


def _keep_fold(
    ctx: RunContext,
    data: LoadedData,
    splits: Splits,
    record: RunRecord,
    model: torch.nn.Module,
    loop_ctx: Context,
    fold: Fold,
    result: FitResult,
    fold_started: float,
) -> None:
    """The fold's history, timing and best-epoch predictions on its validation and the test
    items, into ``record``."""
    # Flip TTA for the fold's kept predictions only: per-epoch validation (best-epoch
    # choice, live curves) stays single-view, which halves its cost.
    loop_ctx.tta = bool(ctx.cfg.tta)
    record.history += result.history
    record.train_samples += result.train_samples * ctx.dist.world_size
    record.train_seconds += result.train_seconds
    batch = ctx.batch_size * 2
    for split, indices in (("val", fold.val), ("test", splits.plan.test)):
        probs = predict(model, loop_ctx, indices, batch)
        if ctx.cfg.slices:  # slice rows, and the volume rows they aggregate to
            from training import slice_run

            slice_run.keep_rows(ctx, data, record, fold.number, split, indices, probs)  # type: ignore[arg-type]
            continue
        for k, p in zip(indices, probs, strict=True):
            item_id = data.items[k].id
            record.rows.append(PredRow(item_id, fold.number, split, int(data.y[k]), p.tolist()))
    record.fold_info.append(
        {
            "fold": fold.number,
            "n_train": len(fold.train),
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early,
            "seconds": round(time.perf_counter() - fold_started, 3),
        }
    )


def _save_fold(
    ctx: RunContext, record: RunRecord, model: torch.nn.Module, fold: Fold, result: FitResult
) -> None:
    """Rank 0: the fold's weights, the report so far, the FoldDone message and log line."""
    save_weights(
        unwrap(model),
        ctx.run_dir / f"fold{fold.number}.safetensors",
        {"model": ctx.model_name, "fold": str(fold.number), "classes": ",".join(ctx.classes)},
    )
    metrics = write_report(ctx, record, final=False)
    fm = next(f for f in metrics["folds"] if f["fold"] == fold.number)
    roc = fm.get("roc")
    ctx.emit(
        msg.FoldDone(ctx.run_id, fold.number, {k: v for k, v in fm.items() if k != "roc"}, roc)
    )
    ctx.log(
        f"fold {fold.number}: best epoch {result.best_epoch}/{result.epochs_run}, "
        f"val AUC {fm.get('roc_auc')}, accuracy {fm.get('accuracy'):.3f}"
        + (" (per volume; the epochs' AUC is per slice)" if ctx.cfg.slices else "")
    )
