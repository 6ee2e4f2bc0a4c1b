"""What a Dask worker runs for one fold: ``run_fold_task(task, x, y)``.

The worker gets the preprocessed tensors, the item ids and labels, and the fold's positions;
never an item's name, path, DICOM tags or group. It trains the fold with the very code a local
run uses (``training.engine.folds.train_fold``), sends every message (epochs, log lines) back
through
a ``distributed.Queue``, polls a ``distributed.Event`` for a cancel, and returns what the fold
produced for the client to put into the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch

from medview.core import messages as msg
from medview.core.item import Item
from medview.core.project import Project
from training.engine.cross_validation import Fold, SplitPlan
from training.engine.data import LoadedData
from training.engine.ddp import Dist
from training.engine.folds import FoldClock, train_fold
from training.engine.loop import resolve_device
from training.engine.report import PredRow
from training.engine.run_context import Reporter, RunContext, RunRecord, Splits
from training.engine.transforms import PrepSettings
from training.engine.weights import unwrap
from training.recipe.config import TrainConfig

# A cancel is seen within this many seconds (each poll is a round trip to the scheduler).
CANCEL_POLL_SECONDS = 0.5
CHECKPOINT = "checkpoint"  # the queue's other item: a fold's state after an epoch


@dataclass
class FoldTask:
    """One fold of a run, as sent to a worker (no names, paths, tags or groups)."""

    run_id: str
    cfg: TrainConfig  # the run's settled settings; ``project`` blanked
    kind: str
    model_name: str
    classes: list[str]
    channels: int
    size: int
    prep: PrepSettings
    item_ids: list[int]  # position -> item id, for the prediction rows
    fold: Fold
    test: list[int]  # positions of the test items (predicted by every fold)
    channel: str  # name of the run's message queue and cancel event


@dataclass
class FoldOutcome:
    """What one fold produced: the parts of ``RunRecord`` a fold adds, and its best weights."""

    fold: int
    best_epoch: int
    epochs_run: int
    header: dict[str, Any]
    history: list[dict[str, Any]]
    rows: list[PredRow]
    fold_info: list[dict[str, Any]]
    train_samples: int
    train_seconds: float
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    worker: str = ""
    resumed_after: int = 0  # the epoch a retried fold went on from (0: it did not)


def run_fold_task(task: FoldTask, x: torch.Tensor, y: torch.Tensor) -> FoldOutcome:
    """Train ``task.fold`` here, on this worker, and return its outcome. A retry (its first
    worker died) goes on from the fold's last epoch, which the client mirrored."""
    from distributed import Event, Queue, Variable, get_worker

    if task.cfg.threads:
        torch.set_num_threads(task.cfg.threads)
    queue, number = Queue(f"{task.channel}-messages"), task.fold.number
    ctx = worker_context(task, lambda m: queue.put(m.to_dict()), _cancel_flag(Event(task.channel)))
    ctx.on_checkpoint = lambda epoch, state: queue.put(
        {"type": CHECKPOINT, "fold": number, "epoch": epoch, "state": state}
    )
    mirrored = _mirrored(Variable(checkpoint_name(task.channel, number)))
    resumed = int(mirrored["epoch"]) if mirrored else 0
    if mirrored:
        ctx.resume = mirrored["state"]
        ctx.log(f"fold {number}: resumed after epoch {resumed} on {get_worker().address}")
    data = LoadedData([_anonymous_item(i, task.kind) for i in task.item_ids], x, y)
    splits = Splits(SplitPlan([task.fold], task.test, grouped=False, mode="kfold"), [task.fold])
    record = RunRecord()
    clock = FoldClock(ctx.epochs, time.perf_counter())
    model, result = train_fold(ctx, data, splits, record, task.fold, clock)
    state = {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}
    return FoldOutcome(
        number, result.best_epoch, result.epochs_run, record.header, record.history,
        record.rows, record.fold_info, record.train_samples, record.train_seconds, state,
        worker=get_worker().address, resumed_after=resumed,
    )  # fmt: skip


def checkpoint_name(channel: str, fold: int) -> str:
    """The Dask Variable that holds a fold's last epoch state, as the client mirrored it."""
    return f"{channel}-fold{fold}-checkpoint"


def _mirrored(variable: Any) -> dict[str, Any] | None:
    """The fold's last mirrored state; None on a first try (the client set epoch 0)."""
    value = dict(variable.get())
    return value if value.get("epoch") else None


def worker_context(task: FoldTask, emit: Any, should_cancel: Any) -> RunContext:
    """The run's context on a worker: no project and no run folder (the client writes them),
    this worker's device, and a reporter that sends to the client."""
    return RunContext(
        cfg=task.cfg, project=cast(Project, None), dist=Dist(), reporter=Reporter(emit, True),
        should_cancel=should_cancel, items=[], kind=task.kind, classes=task.classes,
        model_name=task.model_name, size=task.size, channels=task.channels, prep=task.prep,
        device=resolve_device(task.cfg.device), run_id=task.run_id, run_dir=Path("."),
    )  # fmt: skip


def _cancel_flag(event: Any) -> Any:
    """``should_cancel`` for the loop: the run's cancel event, asked at most every
    CANCEL_POLL_SECONDS (the loop asks every batch)."""
    state = {"at": 0.0, "set": False}

    def should_cancel() -> bool:
        now = time.monotonic()
        if not state["set"] and now - state["at"] >= CANCEL_POLL_SECONDS:
            state["at"], state["set"] = now, bool(event.is_set())
        return bool(state["set"])

    return should_cancel


def _anonymous_item(item_id: int, kind: str) -> Item:
    """An item known by its id alone: what the fold's prediction rows need."""
    return Item(
        id=item_id, name=f"item {item_id}", kind=kind, reader="", paths=[], rel_paths=[],
        shape=(), spacing=(1.0, 1.0, 1.0), size_bytes=0, content_hash="",
    )  # fmt: skip


def message_of(data: dict[str, Any]) -> msg.Message:
    """A worker's message, rebuilt on the client."""
    return msg.from_dict(data)
