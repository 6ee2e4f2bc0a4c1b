"""The Training dock's state and decisions, without Qt: a :class:`TrainingSession`.

It knows the open project, the plan check's verdict, the run being trained (its id, plan,
epochs and folds so far, how it ended), the run that Grad-CAM and "Predict unlabelled" use, and
the side job or study that is running. From these it decides what may be clicked
(:class:`Buttons`), what the progress bar and the status line say, and what an ended run
means (:class:`RunEnd`: the metrics to show, the run to select, the error to explain).

It is driven by the job's messages (:meth:`TrainingSession.handle` takes each
``medview.core.messages`` message in order) and by the user's requests (``begin``,
``cancel``, ``use_run``, ...), and it reports through plain callbacks (:class:`SessionEvents`),
the way ndv keeps its state in GUI-free models with events. ``medview.ui.training_panel`` is
its view: it starts the job process, forwards the messages and draws what the events say.
Tests drive it with fake message sequences: no Qt, no worker (tests/jobs/test_training_session.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from medview.core import messages as msg
from medview.core.errors import MedviewError
from medview.core.project import Project
from medview.core.run_folder import RunFolder
from medview.jobs.run_texts import explain_failure, format_eta
from medview.jobs.runner import DEFAULT_TARGET

RUNNING = ("starting", "running", "cancelling")
SIDE_SETTINGS = {"threads": 1}  # a side job (Grad-CAM, predictions) leaves the CPU to labelling


class Event:
    """Callbacks run in order by :meth:`emit` (psygnal's shape, without the dependency)."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)


class PlanLike(Protocol):
    """What the session reads of ``training.plan.PlanCheck`` (the jobs layer does not import
    the engine; the view runs the check and hands the verdict over)."""

    ok: bool
    errors: list[str]
    kind: str | None
    mixed: bool
    counts: dict[str, int]


@dataclass(frozen=True)
class Buttons:
    """Which of the dock's buttons may be clicked now."""

    train: bool = False
    cancel: bool = False
    compare: bool = False  # Compare models… and Tune…
    predict: bool = False  # Predict unlabelled and Grad-CAM
    label_next: bool = False


@dataclass(frozen=True)
class ProgressText:
    """The progress bar: a value out of 1000, its text, and red when the run failed."""

    value: int = 0
    text: str = "idle"
    failed: bool = False


@dataclass(frozen=True)
class PlotsLayout:
    """The curves and legends the live plots prepare: classes, folds and epochs."""

    classes: tuple[str, ...] = ()
    folds: tuple[int, ...] = ()
    epochs: int = 0


@dataclass(frozen=True)
class RunEnd:
    """What an ended run means for the window."""

    status: str  # "finished" | "failed" | "cancelled"
    run_id: str
    same_project: bool  # False: the user opened another project meanwhile
    metrics: dict[str, Any] | None = None  # the final metrics to show in the plots
    selected: str | None = None  # the run now used for Grad-CAM and predictions
    error: str = ""
    hint: str = ""  # what the error means to a user (explain_failure)
    traceback: str = ""


@dataclass
class RunJob:
    """The run being trained (or the last one), as its messages described it."""

    config: dict[str, Any]
    started_at: float
    state: str = "starting"  # then running, cancelling; finished, failed or cancelled
    run_id: str = ""
    plan: msg.RunPlan = field(default_factory=msg.RunPlan)
    epochs: list[msg.Epoch] = field(default_factory=list)
    folds: dict[int, msg.FoldDone] = field(default_factory=dict)
    final: msg.Message | None = None

    @property
    def running(self) -> bool:
        return self.state in RUNNING

    @property
    def project(self) -> str:
        return str(self.config.get("project", ""))


class SessionEvents:
    """What a view listens to; each carries plain values."""

    def __init__(self) -> None:
        self.buttons = Event()  # Buttons
        self.progress = Event()  # ProgressText
        self.status = Event()  # text, error: the status line and the window's status bar
        self.detail = Event()  # text: the status line only (an epoch's losses)
        self.log = Event()  # text, level
        self.plots_reset = Event()  # PlotsLayout (empty: clear the plots)
        self.plots_planned = Event()  # PlotsLayout the worker confirmed (reset if it differs)
        self.epoch = Event()  # messages.Epoch
        self.fold_done = Event()  # messages.FoldDone
        self.run_started = Event()  # run id, messages.RunPlan (the worker's Started)
        self.run_ended = Event()  # RunEnd
        self.run_selected = Event()  # run id, load its plots (bool)
        self.run_label = Event()  # text (HTML) saying which run the results come from


class TrainingSession:
    """The state of the Training dock; see the module docstring."""

    def __init__(
        self, target: str = DEFAULT_TARGET, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.events = SessionEvents()
        self.target = target  # the job a run starts ("module:function" in the worker)
        # Settings the form does not show, added to every run (a study's best weight decay).
        self.overrides: dict[str, Any] = {}
        self.project: Project | None = None
        self.plan: PlanLike | None = None
        self.run_id: str | None = None  # the run Grad-CAM and "Predict unlabelled" use
        self.job: RunJob | None = None
        self.side: str | None = None  # "Predicting", "Computing Grad-CAM" while one runs
        self.study_running = False  # a study or search job (medview.ui.study_dialog)
        self.progress = ProgressText()
        self._clock = clock

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def buttons(self) -> Buttons:
        has_project = self.project is not None
        plan_ok = bool(self.plan and self.plan.ok)
        busy = self.running or self.study_running  # one job at a time: they share the CPU/GPU
        usable = has_project and self.run_id is not None and self.side is None
        return Buttons(
            train=has_project and plan_ok and not busy,
            cancel=self.job is not None and self.job.state in ("starting", "running"),
            compare=has_project and plan_ok and not busy,
            predict=usable,
            label_next=has_project,
        )

    def _changed(self) -> None:
        self.events.buttons.emit(self.buttons())

    def _set_progress(self, value: int, text: str, failed: bool = False) -> None:
        self.progress = ProgressText(value, text, failed)
        self.events.progress.emit(self.progress)

    def _set_text(self, text: str) -> None:
        self._set_progress(self.progress.value, text, self.progress.failed)

    def status(self, text: str, error: bool = False) -> None:
        self.events.status.emit(text, error)

    # ------------------------------------------------------------------ project and runs
    def set_project(self, project: Project | None) -> None:
        """Another project (or none): its last run with weights is the one used."""
        self.project = project
        self.run_id = None
        if not self.running:  # a running run keeps its plots
            self.events.plots_reset.emit(PlotsLayout())
            self.events.run_label.emit("No finished run yet.")
        if project is not None:
            usable = [r.id for r in project.runs() if r.status in ("finished", "cancelled")]
            usable = [r for r in usable if RunFolder.of(project, r).weight_folds()]
            if usable:
                self.use_run(usable[-1], load_plots=True)
        self._changed()

    def use_run(self, run_id: str, load_plots: bool = True) -> None:
        """Grad-CAM and "Predict unlabelled" use this run; its plots are shown unless a run
        is training (its live plots stay)."""
        if self.project is None:
            return
        self.run_id = run_id
        self.events.run_selected.emit(run_id, load_plots and not self.running)
        model = ""
        with contextlib.suppress(MedviewError):
            model = self.project.get_run(run_id).model or ""
        self.events.run_label.emit(f"Using run <b>{run_id}</b> ({model})")
        self._changed()

    def runs_deleted(self, run_ids: list[str]) -> bool:
        """True if the used run was among them (it is no longer used)."""
        cleared = self.run_id in run_ids
        if cleared:
            self.run_id = None
            self.events.plots_reset.emit(PlotsLayout())
            self.events.run_label.emit("No finished run selected.")
        self._changed()
        return cleared

    def set_plan(self, plan: PlanLike | None) -> None:
        self.plan = plan
        self._changed()

    def run_settings(
        self, form: dict[str, Any], once: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A run's settings: the form's, then ``once``'s (this start only: Run again's settings
        that the form does not show), then the overrides."""
        return {**form, **(once or {}), **self.overrides}

    # ------------------------------------------------------------------ a run
    @property
    def may_start(self) -> bool:
        return self.project is not None and not self.running

    def begin(self, settings: dict[str, Any]) -> dict[str, Any] | None:
        """The user pressed Train with these settings (the plan is checked): the job's
        config, or None when no run may start now (the status says why)."""
        if self.project is None or self.running:
            return None
        plan = self.plan
        if plan is None or not plan.ok:
            self.status("Cannot start: " + (plan.errors[0] if plan else "no project"), True)
            return None
        config = {"project": str(self.project.folder), **settings}
        self.job = RunJob(config, started_at=self._clock())
        # Curves and legends are made now, at the click (the worker's Started confirms them):
        # made later, while the user works, they would be a stall. Auto's epochs come later.
        folds = (1,) if config.get("holdout") else tuple(range(1, int(config["folds"]) + 1))
        classes = tuple(c for c, n in plan.counts.items() if n)
        self.events.plots_reset.emit(PlotsLayout(classes, folds, int(config["epochs"] or 0)))
        self._set_progress(0, "starting the training process…")
        self.status(f"Starting {config['model'] or 'Auto'}…")
        self._changed()
        return config

    def cancel(self) -> bool:
        """True if the running job should be asked to stop (after its current batch)."""
        if self.job is None or self.job.state not in ("starting", "running"):
            return False
        self.job.state = "cancelling"
        self._set_text("cancelling after this batch…")
        self._changed()
        return True

    def handle(self, message: msg.Message) -> None:
        """One message of the run's job, in the order the job sent them."""
        job = self.job
        if job is None or not job.running:
            return
        if isinstance(message, msg.Started):
            self._started(job, message)
        elif isinstance(message, msg.Progress):
            value = int(100 * message.done / max(message.total, 1))
            self._set_progress(value, f"{message.stage} {message.done} / {message.total}")
        elif isinstance(message, msg.Epoch):
            self._epoch(job, message)
        elif isinstance(message, msg.FoldDone):
            job.folds[message.fold] = message
            self.events.fold_done.emit(message)
        elif isinstance(message, msg.Log):
            self.events.log.emit(message.text, message.level)
        elif message.terminal:
            self._end(job, message)

    def _started(self, job: RunJob, message: msg.Started) -> None:
        if job.state == "starting":
            job.state = "running"
        job.run_id, job.plan = message.run_id or "", message.plan
        plan = message.plan
        layout = PlotsLayout(tuple(plan.classes), tuple(plan.folds), plan.epochs or 0)
        self.events.plots_planned.emit(layout)
        self.status(
            f"Run {message.run_id}: {plan.model} on {plan.items} {plan.kind} "
            f"items, {len(plan.folds)} fold(s) × {plan.epochs} epochs, {plan.device}"
        )
        self.events.run_started.emit(message.run_id, plan)

    def _epoch(self, job: RunJob, e: msg.Epoch) -> None:
        job.epochs.append(e)
        self.events.epoch.emit(e)
        folds = len(job.plan.folds)
        self._set_progress(
            int(1000 * e.fraction_done),
            f"fold {e.fold}/{folds or '?'} · epoch {e.epoch}/{e.epochs} · "
            f"ETA {format_eta(e.eta_seconds)}",
        )
        auc = f", val AUC {e.val_auc:.3f}" if e.val_auc is not None else ""
        self.events.detail.emit(f"loss {e.train_loss:.3f} (val {e.val_loss:.3f}){auc}")

    def _end(self, job: RunJob, final: msg.Message) -> None:
        job.state, job.final = final.type, final
        # The user may have opened another project while the run went on: its results belong
        # to the run's own project, so only the messages are shown then.
        same = self.project is not None and str(self.project.folder) == job.project
        if isinstance(final, msg.Finished):
            end = self._finished(job, final, same)
        elif isinstance(final, msg.Cancelled):
            end = self._cancelled(job, same)
        else:
            end = self._failed(job, final, same)
        self._changed()
        self.events.run_ended.emit(end)

    def _finished(self, job: RunJob, final: msg.Finished, same: bool) -> RunEnd:
        metrics = RunFolder(Path(final.run_dir)).read_metrics()
        self._set_progress(1000, f"finished in {format_eta(self._clock() - job.started_at)}")
        self.status(f"Run {job.run_id} finished; predictions are in the item list.")
        if same:
            self.use_run(job.run_id, load_plots=False)
        return RunEnd("finished", job.run_id, same, metrics, self.run_id if same else None)

    def _cancelled(self, job: RunJob, same: bool) -> RunEnd:
        self._set_text("cancelled")
        self.status(f"Run {job.run_id} cancelled; completed folds are kept.")
        metrics, selected = None, None
        if job.run_id and same and self.project is not None:
            folder = RunFolder.of(self.project, job.run_id)
            metrics = folder.read_metrics()
            if folder.weight_folds():  # completed folds can explain and predict
                self.use_run(job.run_id, load_plots=False)
                selected = job.run_id
        return RunEnd("cancelled", job.run_id, same, metrics, selected)

    def _failed(self, job: RunJob, final: msg.Message, same: bool) -> RunEnd:
        error = getattr(final, "error", "") or "the training process failed"
        self._set_progress(self.progress.value, "failed", failed=True)
        self.status(f"Training failed: {error}", True)
        self.events.log.emit(error, "error")
        trace = getattr(final, "traceback", "") or ""
        return RunEnd("failed", job.run_id, same, error=error, hint=explain_failure(error),
                      traceback=trace)  # fmt: skip

    # ------------------------------------------------------------------ side jobs
    def side_config(self, what: str, settings: dict[str, Any]) -> dict[str, Any] | None:
        """Start a side job (``what``: "Predicting", "Computing Grad-CAM") with the used run:
        its config, or None while there is no run or another side job runs."""
        if self.project is None or self.run_id is None or self.side is not None:
            return None
        self.side = what
        return {
            "project": str(self.project.folder),
            "run_id": self.run_id,
            **SIDE_SETTINGS,
            **settings,
        }

    def side_started(self) -> None:
        self.status(f"{self.side}…")
        self._changed()

    def side_ended(self, message: msg.Message | None) -> None:
        """The side job's terminal message; a failure is said in the status line."""
        if isinstance(message, msg.Failed):
            self.status(f"{self.side} failed: {message.error}", True)
        self.side = None
        self._changed()

    def set_study_running(self, running: bool) -> None:
        """Train, Compare and Tune wait while a study or search job runs."""
        self.study_running = running
        self._changed()
