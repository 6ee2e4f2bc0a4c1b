"""The state of one training run, made explicit: what the run trains (``RunInputs``), the run
once it exists (``RunContext``: its id and folder added), and what the folds produce so far
(``RunRecord``). The steps of ``training.api.run_training`` are functions of these.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from medview.core import messages as msg
from medview.core.item import Item
from medview.core.project import Project
from medview.core.run_folder import RunFolder
from training.config import TrainConfig
from training.cross_validation import Fold, SplitPlan
from training.ddp import Dist
from training.report import PredRow
from training.transforms import PrepSettings

if TYPE_CHECKING:
    from training.auto import AutoPlan, DataProfile

Emit = Callable[[msg.Message], None]


class Reporter:
    """Messages and log lines of a run. Only rank 0 reports; a listener that went away (a
    closed pipe, ``| head``) stops the messages, not the run. Once the run folder exists,
    every line is also written to its log."""

    def __init__(self, emit: Emit | None, lead: bool) -> None:
        self.emit_raw = emit
        self.lead = lead
        self.lines: list[str] = []
        self.run_dir: Path | None = None

    def emit(self, message: msg.Message) -> None:
        if not self.lead or self.emit_raw is None:
            return
        try:
            self.emit_raw(message)
        except (BrokenPipeError, OSError, ValueError):
            self.emit_raw = None

    def log(self, text: str, level: str = "info") -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self.lines.append(f"{stamp} {level.upper():7s} {text}")
        self.emit(msg.Log(text, level))
        if self.lead and self.run_dir is not None:
            # On a full disk the lines still go out as messages and stay in memory.
            with contextlib.suppress(OSError):
                RunFolder(self.run_dir).write_log(self.lines)


@dataclass(kw_only=True)
class RunInputs:
    """What the run trains, chosen before the run exists (the batch-size probe and the time
    estimate work on this): config, items, classes, model, input shape, device."""

    cfg: TrainConfig
    project: Project
    dist: Dist
    reporter: Reporter
    should_cancel: Callable[[], bool]
    items: list[Item]
    kind: str
    classes: list[str]
    model_name: str
    size: int
    channels: int
    prep: PrepSettings
    device: torch.device
    auto_plan: AutoPlan | None = None  # Auto's choices and why (Auto on)
    profile: DataProfile | None = None  # the data Auto chose them from
    started: float = field(default_factory=time.perf_counter)

    @property
    def lead(self) -> bool:
        """Rank 0: the only rank that writes files and the database."""
        return self.dist.rank == 0

    # Settings Auto may leave at None until prepare() settles them (``with_defaults``).
    @property
    def epochs(self) -> int:
        assert self.cfg.epochs is not None, "prepare() settles the epochs"
        return self.cfg.epochs

    @property
    def batch_size(self) -> int:
        assert self.cfg.batch_size is not None, "prepare() settles the batch size"
        return self.cfg.batch_size

    @property
    def augment(self) -> str:
        assert self.cfg.augment is not None, "prepare() settles the augmentation"
        return self.cfg.augment

    def emit(self, message: msg.Message) -> None:
        self.reporter.emit(message)

    def log(self, text: str, level: str = "info") -> None:
        self.reporter.log(text, level)


@dataclass(kw_only=True)
class RunContext(RunInputs):
    """A run that exists: its id, its folder, and the time estimate it was announced with."""

    run_id: str
    run_dir: Path
    estimate: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, inputs: RunInputs, run_id: str, run_dir: Path, estimate: dict[str, Any]):
        given = {f.name: getattr(inputs, f.name) for f in fields(RunInputs)}
        return cls(**given, run_id=run_id, run_dir=run_dir, estimate=estimate)


@dataclass
class Splits:
    """The run's split plan and the folds of it this process trains (one with --fold)."""

    plan: SplitPlan
    folds: list[Fold]


@dataclass
class RunRecord:
    """What the run has produced so far; the report is written from it after every fold."""

    header: dict[str, Any] = field(default_factory=dict)  # metrics.json's fixed part
    audit: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    rows: list[PredRow] = field(default_factory=list)
    fold_info: list[dict[str, Any]] = field(default_factory=list)
    train_samples: int = 0
    train_seconds: float = 0.0
    epochs_done: int = 0
    staged: tuple[torch.Tensor, torch.Tensor | None] | None = None  # data pinned/uploaded once
    slices: Any = None  # slice mode: the slices' rows beside the volume rows (slice_run)

    @property
    def folds_done(self) -> list[int]:
        return [f["fold"] for f in self.fold_info]
