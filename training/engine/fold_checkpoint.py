"""A fold's state at the end of an epoch, as bytes, and the fold resumed from it: what a
cluster worker sends the client every epoch so that a fold whose worker died (node lost, job
preempted, walltime) goes on from its last epoch on another worker instead of starting over.

The state: the model, optimizer, schedule, weight average, AMP scaler, the batch-order and
torch random generators, early stopping's record and the fold's result so far. Written with
``torch.save`` and read back with ``weights_only=True`` (tensors, numbers, strings and
containers only: nothing is unpickled).
"""

from __future__ import annotations

import dataclasses
import io
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from training.engine.loop import FitResult, Trainer
    from training.recipe.early_stopping import EarlyStopping


def _cpu(value: Any) -> Any:
    """A copy with every tensor on the CPU (the client may have no GPU)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_cpu(v) for v in value)
    return value


def capture(t: Trainer, stopping: EarlyStopping, result: FitResult, epoch: int) -> bytes:
    """The fold after ``epoch``, as bytes."""
    schedule = getattr(t.scheduler, "state_dict", None)
    state = {
        "epoch": epoch,
        "model": _cpu(t.model.state_dict()),
        "optimizer": _cpu(t.optimizer.state_dict()),
        "scheduler": _cpu(schedule()) if schedule else None,
        "ema": {"steps": t.ema.steps, "shadow": _cpu(t.ema.shadow)} if t.ema else None,
        "scaler": t.scaler.state_dict(),
        "generator": t.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "stopping": dataclasses.asdict(stopping),
        "result": _cpu(dataclasses.asdict(result)),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def restore(t: Trainer, stopping: EarlyStopping, result: FitResult, data: bytes) -> int:
    """Put the fold back as ``capture`` saw it; the epoch it had finished."""
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    t.model.load_state_dict(state["model"])
    t.optimizer.load_state_dict(state["optimizer"])
    if state["scheduler"] is not None:
        t.scheduler.load_state_dict(state["scheduler"])
    if t.ema is not None and state["ema"] is not None:
        t.ema.steps = state["ema"]["steps"]
        device = next(iter(t.model.parameters())).device
        t.ema.shadow = {k: v.to(device) for k, v in state["ema"]["shadow"].items()}
    t.scaler.load_state_dict(state["scaler"])
    t.generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    for name, value in state["stopping"].items():
        setattr(stopping, name, tuple(value) if name == "best_score" and value else value)
    for name, value in state["result"].items():
        setattr(result, name, value)
    return int(state["epoch"])
