"""The messages a training run (or a one-shot job) reports: small typed dataclasses, plain
dicts on the wire.

This module is the protocol between the engine (``training``) and whoever drives it (the
window through ``medview.jobs``, the CLI's ``--json-progress``). It lives in ``medview.core``
so both sides import it without the engine knowing about ``medview.jobs`` or the UI.

The worker puts ``message.to_dict()`` on a multiprocessing queue (dicts pickle cheaply and
never need torch on the receiving side); ``--json-progress`` prints the same dicts as JSON lines.
``from_dict`` rebuilds the dataclass on the GUI side. Every dict has a ``type`` key:

* ``started``   the plan (``RunPlan``): model, kind, classes, folds, epochs, items, device
* ``progress``  data loading: stage, done, total
* ``epoch``     one epoch ended: fold, epoch, losses, validation AUC/accuracy, lr, seconds, ETA
* ``fold_done`` one fold ended: its metrics (and ROC points for live plots)
* ``log``       a line for the log pane (level ``info``/``warning``)
* ``finished`` / ``failed`` / ``cancelled``: exactly one of these ends every run
  (``final_message_guard`` makes sure of it); ``finished.run_dir`` is the run's folder and
  ``finished.output`` the file a one-shot job wrote (predictions CSV, Grad-CAM ``.npy``)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from medview.core.errors import MedviewError


@dataclass
class Message:
    type: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=_json_default)

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL


@dataclass
class RunPlan:
    """What a run (or a study of runs) is about to do, sent once in ``started``."""

    model: str = ""
    kind: str = ""  # a run: "2d" / "3d"; a study: "compare" / "tune"
    classes: list[str] = field(default_factory=list)
    folds: list[int] = field(default_factory=list)  # the folds this run trains
    epochs: int | None = None
    items: int = 0
    test_items: int = 0
    size: int | None = None  # input side in pixels
    device: str = ""
    run_dir: str = ""
    # Auto (training/auto.py): the batch size it chose, its plan (setting -> value and why)
    # and the time estimated from warm-up batches.
    batch_size: int | None = None
    auto: dict[str, Any] | None = None
    estimated_seconds: float | None = None
    # Studies (training.study, training.tune): the models compared, the trial budget, the
    # trials already done, and the study's folder.
    study_id: str | None = None
    models: list[str] = field(default_factory=list)
    budget: int | None = None
    done: int | None = None
    study_dir: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunPlan:
        """Unknown keys are ignored (an older window reads a newer worker's plan)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Started(Message):
    type: ClassVar[str] = "started"
    run_id: str
    plan: RunPlan = field(default_factory=RunPlan)
    at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if isinstance(self.plan, dict):  # rebuilt from the wire
            self.plan = RunPlan.from_dict(self.plan)


@dataclass
class Progress(Message):
    type: ClassVar[str] = "progress"
    stage: str
    done: int
    total: int


@dataclass
class Epoch(Message):
    type: ClassVar[str] = "epoch"
    run_id: str
    fold: int
    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    val_auc: float | None = None
    val_accuracy: float | None = None
    lr: float = 0.0
    seconds: float = 0.0
    eta_seconds: float | None = None
    fraction_done: float = 0.0  # of the whole run's planned epochs, 0..1
    confusion: list[list[int]] | None = None  # this epoch's validation confusion (optional)


@dataclass
class FoldDone(Message):
    type: ClassVar[str] = "fold_done"
    run_id: str
    fold: int
    metrics: dict[str, Any] = field(default_factory=dict)
    roc: dict[str, Any] | None = None


@dataclass
class Log(Message):
    type: ClassVar[str] = "log"
    text: str
    level: str = "info"


@dataclass
class Finished(Message):
    type: ClassVar[str] = "finished"
    run_id: str
    run_dir: str = ""  # the run's folder ("" for jobs that belong to no run)
    summary: dict[str, Any] = field(default_factory=dict)
    output: str = ""  # the file a one-shot job wrote, if any


@dataclass
class Failed(Message):
    type: ClassVar[str] = "failed"
    error: str
    run_id: str | None = None
    traceback: str = ""


@dataclass
class Cancelled(Message):
    type: ClassVar[str] = "cancelled"
    run_id: str | None = None
    completed_folds: list[int] = field(default_factory=list)


TYPES: dict[str, type[Message]] = {
    cls.type: cls for cls in (Started, Progress, Epoch, FoldDone, Log, Finished, Failed, Cancelled)
}
TERMINAL = ("finished", "failed", "cancelled")


def from_dict(data: dict[str, Any]) -> Message:
    """Rebuild a message; unknown keys are ignored so older GUIs read newer workers."""
    kind = data.get("type")
    cls = TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown message type {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@contextlib.contextmanager
def final_message_guard(emit: Callable[[Message], None]) -> Iterator[None]:
    """Whatever the body raises ends with a ``failed`` message, not silence: the window
    waits for a terminal message. A ``MedviewError`` is a user's problem and is reported by
    its message alone; anything else also carries its traceback."""
    try:
        yield
    except MedviewError as exc:
        emit(Failed(str(exc)))
    except BaseException as exc:
        emit(Failed(f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)
