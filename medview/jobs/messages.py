"""The messages a training run reports: small typed dataclasses, plain dicts on the wire.

The worker puts ``message.to_dict()`` on a multiprocessing queue (dicts pickle cheaply and
never need torch on the receiving side); ``--json-progress`` prints the same dicts as JSON lines.
``from_dict`` rebuilds the dataclass on the GUI side. Every dict has a ``type`` key:

* ``started``   the plan: run id, model, kind, classes, folds, epochs, items, device
* ``progress``  data loading: stage, done, total
* ``epoch``     one epoch ended: fold, epoch, losses, validation AUC/accuracy, lr, seconds, ETA
* ``fold_done`` one fold ended: its metrics (and ROC points for live plots)
* ``log``       a line for the log pane (level ``info``/``warning``)
* ``finished`` / ``failed`` / ``cancelled``: exactly one of these ends every run
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar


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
class Started(Message):
    type: ClassVar[str] = "started"
    run_id: str
    plan: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


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
    run_dir: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


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


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)
