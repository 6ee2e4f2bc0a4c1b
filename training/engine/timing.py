"""Warm-up batches before a run: Auto's batch size (CUDA: the largest that fits) and the time
estimate of its plan (shown; it never changes the plan).

Both use a throwaway copy of the run's model, trained a few steps on the run's own (augmented)
items, so the numbers include augmentation and the device's real kernels. The fold models are
built fresh afterwards: nothing here changes what the run learns.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from training.engine.batch_size import (
    BatchChoice,
    activation_bytes_per_sample,
    choose_batch_size,
    cpu_batch_size,
    physical_memory,
)
from training.engine.batches import Context, _batch, model_to_fast_layout, precise_bn_count
from training.engine.models import build_model
from training.engine.optimisation import loss_of, make_criterion, make_optimizer
from training.engine.transforms import build_augmentation

EVAL_COST = 1 / 3  # a forward pass costs about a third of a training step per sample


def _trainer(run: Any, data: Any):
    """A (step(batch_size) -> seconds, model) pair on a throwaway model."""
    cfg = dataclasses.replace(run.cfg, batch_size=run.cfg.batch_size or 8).with_defaults()
    model = build_model(run.model_name, len(run.classes), run.channels).to(run.device)
    model = model_to_fast_layout(model, run.model_name, run.prep.ndim, run.device)
    model.train()
    optimizer = make_optimizer(cfg, list(model.parameters()))
    augment = build_augmentation(cfg.augment, run.prep.ndim, run.channels, cfg.seed)
    ctx = Context(data.x, data.y, len(run.classes), run.device, augment)
    criterion = make_criterion(ctx.n_classes, data.y, False, run.device)
    cuda = run.device.type == "cuda"

    def step(batch_size: int) -> float:
        idx = torch.arange(batch_size) % len(data.x)
        started = time.perf_counter()
        inputs = _batch(ctx, idx, train=True)
        targets = data.y[idx].clamp(min=0).to(run.device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(criterion, model(inputs), targets, ctx.binary)
        loss.backward()
        optimizer.step()
        if cuda:
            torch.cuda.synchronize(run.device)
        return time.perf_counter() - started

    return step, model


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def choose_batch(run: Any, data: Any, n_train: int) -> BatchChoice:
    """The batch size: on the CPU from the data and memory
    (training.engine.batch_size.cpu_batch_size),
    on CUDA the largest that fits (a probe of real steps that only stops at out-of-memory,
    which the machine's CPU load does not change)."""
    step, model = _trainer(run, data)
    if run.device.type != "cuda":
        sample = data.x[0].to(run.device)
        per_sample = activation_bytes_per_sample(model, sample)
        choice = cpu_batch_size(n_train, run.kind, per_sample, physical_memory())
    else:
        choice = choose_batch_size(
            step, device_type="cuda", n_train=n_train, kind=run.kind, is_oom=_is_oom
        )
        torch.cuda.empty_cache()
    if run.dist.world_size > 1:  # every rank must train with the same batch size
        choice.batch_size = int(run.dist.share(str(choice.batch_size)))
    return choice


def estimate_run(
    run: Any, data: Any, sizes: tuple[int, int, int, int], choice: BatchChoice | None
) -> dict[str, Any]:
    """Seconds the run should take, from the measured training rate at its batch size.
    ``sizes``: (folds, training, validation and test items per fold)."""
    cfg = run.cfg
    folds, n_train, n_val, n_test = sizes
    bs = cfg.batch_size
    rate = choice.samples_per_second.get(bs) if choice else None
    if rate is None:  # the batch size was given: time three warm-up batches of it
        step, _model = _trainer(run, data)
        step(bs)
        rate = bs / max(min(step(bs), step(bs)), 1e-9)
    views = 2 if cfg.tta else 1  # flip TTA on the kept predictions, not every epoch
    evaluated = (precise_bn_count(n_train) if cfg.precise_bn else 0) + n_val
    per_epoch = n_train / rate + evaluated * EVAL_COST / rate
    test = (n_val + n_test) * views * EVAL_COST / rate
    seconds = folds * (cfg.epochs * per_epoch + test)
    return {
        "seconds": round(seconds, 1),
        "per_epoch_seconds": round(per_epoch, 3),
        "samples_per_second": round(rate, 2),
        "folds": folds,
        "batch_size": bs,
    }
