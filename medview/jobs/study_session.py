"""A study's or search's state and decisions, without Qt: a :class:`StudySession`.

It knows the study (its id, kind and planned models), the runs its job started (models or
trials), the one training now, how many are done, the job's log lines and how the job ended.
It holds the rows and report read from the study's files, says each row's status, and turns
a search's best trial into the settings for the training form (:class:`BestSettings`).

Like :class:`medview.jobs.training_session.TrainingSession`, it is driven by the job's
messages (:meth:`StudySession.handle`, in order) and by the user's requests (``cancel``,
``apply_best``), and reports through plain callbacks (:class:`StudyEvents`).
``medview.ui.study_view`` is its view. Tests drive it with fake messages
(tests/jobs/test_study_session.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medview.core import messages as msg
from medview.jobs.training_session import RUNNING, Event

ENDED = ("finished", "failed", "cancelled")
COUNTED = {"study": "models", "tune": "trials"}  # the job's Progress stages: what is counted
FORM_KEYS = ("model", "lr", "batch_size", "augment")  # a best trial's settings the form shows
SETTING_NAMES = {
    "lr": "learning rate",
    "batch_size": "batch size",
    "weight_decay": "weight decay",
    "augment": "augmentation",
}
MAX_LOG = 2000  # the job's log lines kept (the Training dock's log keeps as many)


def setting_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2g}"
    return "–" if value is None else str(value)


@dataclass(frozen=True)
class StudyProgress:
    """The study window's progress bar: a value out of 1000 and its text."""

    value: int = 0
    text: str = "starting…"


@dataclass(frozen=True)
class BestSettings:
    """A search's best trial for the training form."""

    form: dict[str, Any]  # the settings the form shows
    extra: dict[str, Any]  # those it does not (weight decay): added to the next runs
    log_line: str  # what the Training dock's log says


@dataclass
class StudyRun:
    """One run (a model or a trial) the study's job started."""

    model: str
    epochs: int = 0  # epoch messages seen
    folds: list[int] = field(default_factory=list)  # folds done


class StudyEvents:
    """What a view listens to; each carries plain values."""

    def __init__(self) -> None:
        self.title = Event()  # study id: the job named its study
        self.progress = Event()  # StudyProgress
        self.status = Event()  # text: the line under the progress bar
        self.refresh = Event()  # (): re-read the study's files (a run started or ended)
        self.ended = Event()  # "finished" | "failed" | "cancelled"


class StudySession:
    """The state of one study window; see the module docstring. ``running``: a job drives it
    (else it shows a study from the project's files)."""

    def __init__(self, study_id: str | None = None, running: bool = False) -> None:
        self.events = StudyEvents()
        self.study_id = study_id
        self.state = "starting" if running else "idle"  # then running, cancelling; ENDED
        self.kind = ""  # "compare" | "tune", once the job said so
        self.planned: list[str] = []  # the models the job will train
        self.runs: dict[str, StudyRun] = {}  # by run id, in the order they started
        self.training_run: str | None = None  # the run being trained now
        self.done = 0
        self.total = 0
        self.log: list[str] = []
        self.status = " "
        self.progress = StudyProgress()
        self.error = ""
        self.report: dict[str, Any] = {}
        self.rows: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self.state in RUNNING

    @property
    def ended(self) -> bool:
        """The job ended: its report is written as final (a shown study's is only read)."""
        return self.state in ENDED

    def _say(self, text: str) -> None:
        self.status = text
        self.events.status.emit(text)

    def _set_progress(self, value: int, text: str) -> None:
        self.progress = StudyProgress(value, text)
        self.events.progress.emit(self.progress)

    # ------------------------------------------------------------------ the job's messages
    def handle(self, message: msg.Message) -> None:
        """One message of the study's job, in the order the job sent them."""
        if self.ended:  # a cancelling job still reports; an ended one has said all
            return
        if isinstance(message, msg.Started):
            self._started(message)
        elif isinstance(message, msg.Progress):
            self._progress(message)
        elif isinstance(message, msg.Epoch):
            self._epoch(message)
        elif isinstance(message, msg.FoldDone):
            self.runs.setdefault(message.run_id, StudyRun("")).folds.append(message.fold)
            self._say(f"run {message.run_id}: fold {message.fold} done")
        elif isinstance(message, msg.Log):
            self.log = [*self.log[-(MAX_LOG - 1) :], message.text]
            self._say(message.text)
        elif message.terminal:
            self._end(message)

    def _started(self, message: msg.Started) -> None:
        if self.state in ("idle", "starting"):
            self.state = "running"
        plan = message.plan
        if plan.study_id:  # the job's own Started names the study
            self.study_id, self.kind, self.planned = plan.study_id, plan.kind, list(plan.models)
            self.events.title.emit(plan.study_id)
            self.events.refresh.emit()
        elif plan.model:  # then each of its runs
            self.runs[message.run_id] = StudyRun(plan.model)
            self.training_run = message.run_id
            self._say(f"training {plan.model} (run {message.run_id})")
            self.events.refresh.emit()

    def _progress(self, message: msg.Progress) -> None:
        what = COUNTED.get(message.stage)
        if what is None or not message.total:  # a run's data loading: its own stages
            return
        self.done, self.total = message.done, message.total
        self._set_progress(
            int(1000 * message.done / message.total),
            f"{message.done} of {message.total} {what} done",
        )
        self.events.refresh.emit()

    def _epoch(self, e: msg.Epoch) -> None:
        self.runs.setdefault(e.run_id, StudyRun("")).epochs += 1
        auc = f", val AUC {e.val_auc:.3f}" if e.val_auc is not None else ""
        self._say(f"run {e.run_id}: fold {e.fold}, epoch {e.epoch}/{e.epochs}{auc}")

    def _end(self, final: msg.Message) -> None:
        self.state = final.type
        self.training_run = None  # a cancelled run is not "training" any more
        value = 1000 if final.type == "finished" else self.progress.value
        if isinstance(final, msg.Failed):
            self.error = final.error
            self._say(f"the study failed: {final.error}")
        self._set_progress(value, final.type)
        self.events.refresh.emit()
        self.events.ended.emit(final.type)

    def cancel(self) -> bool:
        """True if the job should be asked to stop (after its current batch)."""
        if self.state not in ("starting", "running"):
            return False
        self.state = "cancelling"
        self._say("cancelling after this batch; finished runs are kept")
        return True

    # ------------------------------------------------------------------ the study's files
    def show(self, report: dict[str, Any], rows: list[dict[str, Any]], status: str) -> None:
        """The study's report and rows as read now; ``status``: the database's (study.json
        may predate the study's end)."""
        self.report = {**report, "status": status}
        self.rows = list(rows)

    def unreadable(self, error: str) -> None:
        self._say(f"cannot read the study: {error}")

    def row_status(self, row: dict[str, Any]) -> str:
        """A row's status: "training" for the run being trained (its database row says
        "not run" or "running" until it ends)."""
        status = str(row.get("status"))
        if status not in ("finished", "failed") and row.get("run_id") == self.training_run:
            return "training"
        return status

    # ------------------------------------------------------------------ a search's best trial
    def best_settings(self) -> dict[str, Any]:
        return dict((self.report.get("tune") or {}).get("best_settings") or {})

    def apply_best(self) -> BestSettings | None:
        """The best trial's settings for the training form; None before there is one."""
        settings = self.best_settings()
        if not settings:
            return None
        form = {k: v for k, v in settings.items() if k in FORM_KEYS}
        extra = {k: settings[k] for k in ("weight_decay",) if k in settings}
        line = f"Best settings of search {self.study_id} applied: " + ", ".join(
            f"{SETTING_NAMES.get(k, k)} {setting_text(v)}" for k, v in settings.items()
        )
        self._say("best settings applied to the training form")
        return BestSettings(form, extra, line)
