"""Training one model: epochs, evaluation, early stopping, devices, AMP.

Its pieces: training/optimisation.py (loss, optimizer, schedule, EMA), training/batches.py
(the Context, batches on the device, prediction, BatchNorm recalibration) and
training/early_stopping.py (the best epoch, when to stop); callers may import them from here.

``fit`` is the epoch loop, in the jobs of torchvision's classification reference:
``make_trainer`` (loss, optimizer, schedule, EMA, AMP), ``train_one_epoch``, ``evaluate``, and
``training.early_stopping.EarlyStopping`` for the best epoch and when to stop (its weights are
what the fold keeps).

Speed notes: the loss is accumulated on the device and read once per epoch (a per-batch
``.item()`` would stall a GPU pipeline); AMP is CUDA-only. Batches come from
training/batches.py (a streamed run's from ``training.stream_loader``, a batch or two ahead).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from medview.core.errors import MedviewError
from training.batches import Context as Context  # (re-exported: callers import it from here)
from training.batches import _batch as _batch
from training.batches import batches, precise_bn, precise_bn_count, predict_logits
from training.batches import predict as predict
from training.batches import stage_data as stage_data
from training.config import TrainConfig
from training.data import epoch_batches, epoch_size
from training.early_stopping import EarlyStopping
from training.gpu_stats import EpochGpuStats
from training.metrics import _roc_auc
from training.optimisation import EmaWeights as EmaWeights
from training.optimisation import loss_of as loss_of
from training.optimisation import make_criterion as make_criterion
from training.optimisation import make_optimizer as make_optimizer
from training.optimisation import make_scheduler as make_scheduler
from training.optimisation import probabilities as probabilities


class Cancelled(Exception):
    """Raised inside the loop when the user cancelled; the fold in progress is dropped."""


class DeviceError(MedviewError):
    """The requested device is not available."""


def resolve_device(name: str) -> torch.device:
    """``auto`` = CUDA, then Apple MPS, then CPU; an explicit device must exist."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda: no CUDA GPU is available (try --device auto)")
    if name == "mps" and not has_mps:
        raise DeviceError("--device mps: Apple MPS is not available (try --device auto)")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class FitResult:
    best_epoch: int
    epochs_run: int
    best_state: dict[str, torch.Tensor]
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    train_samples: int = 0
    train_seconds: float = 0.0


@dataclass
class Trainer:
    """One fold's training pieces: the model (and its DDP wrapper), loss, optimizer, schedule,
    weight average, AMP scaler and the sampling of training batches."""

    model: nn.Module
    train_model: nn.Module  # ``model`` or its DDP wrapper
    cfg: TrainConfig  # with_defaults applied
    ctx: Context
    set_mode: Callable[[], None]  # train mode (a frozen encoder stays in eval mode)
    train_pos: torch.Tensor  # positions of the training items
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    ema: EmaWeights | None
    amp: bool
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    y_train: torch.Tensor  # the training items' labels: what --sampler draws by
    gpu: EpochGpuStats  # history's GPU columns (CUDA only)

    @property
    def batch_size(self) -> int:
        assert self.cfg.batch_size is not None  # with_defaults set it
        return self.cfg.batch_size

    @property
    def per_step(self) -> bool:
        """The schedule steps once per optimizer step (else once per epoch)."""
        return bool(getattr(self.scheduler, "per_step", False))


def make_trainer(
    model: nn.Module,
    train_model: nn.Module,
    cfg: TrainConfig,
    ctx: Context,
    train_idx: Sequence[int],
    set_mode: Callable[[], None],
    fold: int,
) -> Trainer:
    assert cfg.batch_size is not None  # with_defaults set it
    y_train = ctx.y[list(train_idx)]
    smoothing = cfg.label_smoothing or 0.0
    criterion = make_criterion(ctx.n_classes, y_train, cfg.class_weights, ctx.device, smoothing)
    optimizer = make_optimizer(cfg, list(model.parameters()))
    per_rank = -(-epoch_size(y_train, cfg.sampler) // max(1, ctx.world_size))
    steps_per_epoch = max(1, sum(1 for _ in _batch_starts(per_rank, cfg.batch_size)))
    amp = cfg.amp and ctx.device.type == "cuda"
    return Trainer(
        model, train_model, cfg, ctx, set_mode,
        train_pos=torch.as_tensor(list(train_idx), dtype=torch.long),
        criterion=criterion,
        optimizer=optimizer,
        scheduler=make_scheduler(cfg, optimizer, steps_per_epoch),
        ema=EmaWeights(model) if cfg.ema else None,
        amp=amp,
        scaler=torch.amp.GradScaler("cuda", enabled=amp),
        generator=torch.Generator().manual_seed(cfg.seed * 1000 + fold),
        y_train=y_train,
        gpu=EpochGpuStats(ctx.device),
    )  # fmt: skip


def train_one_epoch(t: Trainer) -> tuple[float, int, float]:
    """One pass over the training items: (mean training loss, samples seen, the epoch's lr)."""
    t.set_mode()
    ctx = t.ctx
    total = torch.zeros((), device=ctx.device)
    seen = 0
    locals_ = epoch_batches(
        range(len(t.train_pos)),
        t.batch_size,
        t.generator,
        sampler=t.cfg.sampler,
        labels=t.y_train,
        rank=ctx.rank,
        world_size=ctx.world_size,
    )
    for idx, inputs in batches(ctx, (t.train_pos[local] for local in locals_), train=True):
        if _cancelled(ctx):
            raise Cancelled()
        total += _train_step(t, idx, inputs) * len(idx)
        seen += len(idx)
    lr = t.optimizer.param_groups[0]["lr"]
    if t.scheduler is not None and not t.per_step:
        t.scheduler.step()
    return _reduce_mean(total, seen, ctx), seen, lr


def _train_step(t: Trainer, idx: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """One optimizer step on the items ``idx``; the batch's mean loss, still on the device."""
    targets = t.ctx.y[idx].to(t.ctx.device, non_blocking=True)
    t.optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=torch.float16, enabled=t.amp):
        loss = loss_of(t.criterion, t.train_model(inputs), targets, t.ctx.binary)
    t.scaler.scale(loss).backward()
    t.scaler.step(t.optimizer)
    t.scaler.update()
    if t.ema is not None:
        t.ema.update(t.model)
    if t.per_step:
        t.scheduler.step()
    return loss.detach()


@dataclass
class Validation:
    """A fold's validation items, their classes and the loss computed on them (on the CPU)."""

    indices: list[int]
    y: torch.Tensor
    criterion: nn.Module


def evaluate(model: nn.Module, ctx: Context, val: Validation, batch_size: int) -> dict[str, Any]:
    """Validation loss, AUC (None when undefined), accuracy at argmax and the confusion
    counts, in history.csv's order; under DDP every rank gets rank 0's loss and AUC."""
    logits = predict_logits(model, ctx, val.indices, batch_size)
    probs = probabilities(logits, ctx.binary).numpy().astype(np.float64)
    with torch.no_grad():
        val_loss = float(loss_of(val.criterion, logits, val.y, ctx.binary))
    y = val.y.numpy()
    auc = _roc_auc(y, probs)
    acc = float((probs.argmax(1) == y).mean()) if len(probs) else float("nan")
    val_loss, auc = _agree(val_loss, auc, ctx)
    return {
        "val_loss": val_loss,
        "val_auc": auc,
        "val_accuracy": acc,
        "confusion": _confusion(y, probs),  # the GUI's live confusion plot
    }


def fit(
    model: nn.Module,
    train_model: nn.Module,
    cfg: TrainConfig,
    ctx: Context,
    train_idx: Sequence[int],
    val_idx: Sequence[int],
    set_mode: Callable[[], None],
    fold: int,
) -> FitResult:
    """Train ``train_model`` (``model``, or its DDP wrapper) and return the best epoch's state."""
    cfg = cfg.with_defaults()
    # with_defaults set every setting Auto left at None
    assert cfg.epochs is not None and cfg.batch_size is not None and cfg.min_epochs is not None
    t = make_trainer(model, train_model, cfg, ctx, train_idx, set_mode, fold)
    y_train = ctx.y[list(train_idx)]
    val_criterion = make_criterion(ctx.n_classes, y_train, cfg.class_weights, torch.device("cpu"))
    val = Validation(list(val_idx), ctx.y[list(val_idx)], val_criterion)
    stopping = EarlyStopping(cfg.patience, cfg.min_epochs, cfg.early_stopping or "auc")
    result = FitResult(0, 0, {})
    for epoch in range(1, cfg.epochs + 1):
        row = _epoch(t, val, stopping, result, epoch, fold)
        result.history.append(row)
        if ctx.on_epoch is not None:
            ctx.on_epoch(row)
        if stopping.should_stop(epoch):
            result.stopped_early = epoch < cfg.epochs
            break
    return result


def _epoch(
    t: Trainer,
    val: Validation,
    stopping: EarlyStopping,
    result: FitResult,
    epoch: int,
    fold: int,
) -> dict[str, Any]:
    """Train one epoch, evaluate (the weight average, BatchNorm statistics recomputed), keep
    the weights when best; the epoch's history row."""
    t.gpu.start()
    started = time.perf_counter()
    cpu_started = time.process_time()  # CPU time: what bench/ compares under machine load
    train_loss, seen, lr = train_one_epoch(t)
    train_seconds = time.perf_counter() - started
    train_cpu_seconds = time.process_time() - cpu_started
    model = t.model
    if t.ema is not None:
        t.ema.swap(model)  # evaluate (and keep, if best) the averaged weights
    if t.cfg.precise_bn:
        order = torch.randperm(len(t.train_pos), generator=torch.Generator().manual_seed(epoch))
        chosen = order[: precise_bn_count(len(order))]
        precise_bn(model, t.ctx, t.train_pos[chosen], t.batch_size)
    scores = evaluate(model, t.ctx, val, t.batch_size * 2)
    improved = stopping.update(epoch, scores["val_auc"], scores["val_loss"])
    if improved:
        result.best_epoch = epoch
        result.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if t.ema is not None:
        t.ema.swap(model)  # back to the live weights for the next epoch
    result.epochs_run = epoch
    result.train_samples += seen
    result.train_seconds += train_seconds
    return {
        "fold": fold, "epoch": epoch, "train_loss": train_loss, **scores, "lr": lr,
        "seconds": round(time.perf_counter() - started, 4),
        "train_seconds": train_seconds, "train_cpu_seconds": train_cpu_seconds,
        "train_samples": seen, "best": improved, **t.gpu.stop(),
    }  # fmt: skip


def _batch_starts(n: int, batch_size: int):
    """Batch start offsets as epoch_batches yields them (a trailing lone sample is skipped)."""
    for start in range(0, n, batch_size):
        if n - start == 1 and n > 1:
            continue
        yield start


def _confusion(y_true: np.ndarray, probs: np.ndarray) -> list[list[int]]:
    """Counts (true x predicted) with metrics.py's rule: binary thresholds P(second) at 0.5."""
    n = probs.shape[1] if probs.ndim == 2 else 0
    cm = np.zeros((n, n), dtype=int)
    if len(probs):
        pred = (probs[:, 1] >= 0.5).astype(int) if n == 2 else probs.argmax(1)
        np.add.at(cm, (np.asarray(y_true, dtype=int), pred), 1)
    return cm.tolist()


def _cancelled(ctx: Context) -> bool:
    """The cancel flag; under DDP any rank's cancel stops all of them at the same batch (a rank
    that stopped alone would leave the others waiting in the gradient all-reduce forever)."""
    flag = ctx.should_cancel()
    if ctx.world_size == 1:
        return flag
    import torch.distributed as dist

    # On the device: NCCL reduces CUDA tensors only (gloo takes CPU ones).
    shared = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(shared, op=dist.ReduceOp.MAX)
    return bool(shared.item())


def _reduce_mean(total: torch.Tensor, seen: int, ctx: Context) -> float:
    if ctx.world_size > 1:
        import torch.distributed as dist

        pair = torch.stack([total.float(), torch.tensor(float(seen), device=total.device)])
        dist.all_reduce(pair)
        return float(pair[0] / max(pair[1].item(), 1.0))
    return float(total) / max(seen, 1)


def _agree(val_loss: float, auc: float | None, ctx: Context) -> tuple[float, float | None]:
    """Under DDP every rank must take the same early-stopping decision: use rank 0's numbers."""
    if ctx.world_size == 1:
        return val_loss, auc
    import torch.distributed as dist

    values = torch.tensor(
        [val_loss, auc if auc is not None else float("nan")], dtype=torch.float64, device=ctx.device
    )
    dist.broadcast(values, src=0)
    shared_auc = float(values[1])
    return float(values[0]), None if math.isnan(shared_auc) else shared_auc
