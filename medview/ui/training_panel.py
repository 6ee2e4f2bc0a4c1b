"""The Training dock: preset + Advanced form, plan check, Train / Cancel, progress with ETA,
log, and what a finished run gives back (predictions, Label next, Grad-CAM).

The panel is a view of a :class:`medview.jobs.training_session.TrainingSession`, which holds
the run's state and decides what may be clicked and what an ended run means. The panel runs
the plan check, starts each job (a run, "Predict unlabelled", a Grad-CAM map) as a spawned
process driven by a JobBridge (torch never loads in the window's process), forwards the job's
messages to the session and draws what the session's events say. It knows of the window only
the few things a :class:`PanelHost` gives it. training_dock.install(window) adds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from medview.core.project import Item, Project
from medview.jobs.training_session import (
    Buttons,
    PlotsLayout,
    ProgressText,
    RunEnd,
    TrainingSession,
)
from medview.ui import workers
from medview.ui.job_bridge import JobBridge
from medview.ui.plots import LivePlots
from medview.ui.predictions import show_prediction_columns
from medview.ui.run_history import RunHistory
from medview.ui.run_on import RunOnBox
from medview.ui.saliency import OverlayControls, SaliencyOverlay
from medview.ui.training_form import TrainingForm
from medview.ui.training_side_jobs import SideJobs
from medview.ui.wheel_guard import guard_wheel
from training.recipe.cluster_address import RUN_ON
from training.recipe.plan import PlanCheck, check_plan

if TYPE_CHECKING:
    from medview.ui.browser import BrowserWidget
    from medview.ui.slice_view import SliceView
    from medview.ui.study_view import StudyHost


@dataclass
class PanelHost:
    """What the panel needs of the window, and no more."""

    browser: BrowserWidget  # the item list: its model's predictions, selection and columns
    slice_view: SliceView  # where the Grad-CAM overlay is drawn
    current_item: Callable[[], Item | None]  # the item the slice view shows
    show_status: Callable[[str, int], None]  # the window's status bar: text, milliseconds


class TrainingPanel(QWidget):
    runStarted = Signal(str)  # run id
    runEnded = Signal(str, str)  # status, run id
    gradcamReady = Signal(int)  # item id
    predictionsReady = Signal(int)  # how many items were predicted

    def __init__(self, host: PanelHost, session: TrainingSession | None = None) -> None:
        super().__init__()
        self.host = host
        self.session = session or TrainingSession()
        self.bridge: JobBridge | None = None  # the run's job
        self.study_views: list[QWidget] = []  # open study windows (medview.ui.study_view)
        self._forms: dict[str, Any] = {}  # project folder: the form's values there
        self.plots = LivePlots()
        self.history = RunHistory()
        self.history.runSelected.connect(self.use_run)
        self.overlay = SaliencyOverlay(host.slice_view)
        self.side = SideJobs(host, self.session, self.overlay, self.refresh_predictions, self)
        self.side.gradcamReady.connect(self.gradcamReady)
        self.side.predictionsReady.connect(self.predictionsReady)
        self._check_timer = QTimer(self, singleShot=True, interval=300)
        self._check_timer.timeout.connect(self._check_in_background)
        self._build()
        self._listen(self.session)

    @property
    def project(self) -> Project | None:
        return self.session.project

    @property
    def run_id(self) -> str | None:
        """The run Grad-CAM and "Predict unlabelled" use."""
        return self.session.run_id

    @property
    def plan(self) -> PlanCheck | None:
        return cast("PlanCheck | None", self.session.plan)  # the panel hands over PlanChecks

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.setContentsMargins(6, 6, 6, 6)
        self.form = TrainingForm()
        self.form.changed.connect(self.check)
        layout.addWidget(self.form)
        self.run_on = RunOnBox()  # where the folds train (docs/cluster.md)
        layout.addWidget(self.run_on)
        self.plan_label = QLabel()
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.train_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        # Model studies (medview/ui/study_dialog.py): several runs on the same folds.
        studies = QHBoxLayout()
        self.compare_button = QPushButton("Compare models…")
        self.compare_button.setToolTip("Train several models on the same folds and compare them")
        self.compare_button.clicked.connect(self.compare_models)
        self.tune_button = QPushButton("Tune…")
        self.tune_button.setToolTip("Search learning rate, batch size, ... with Optuna")
        self.tune_button.clicked.connect(self.tune)
        studies.addWidget(self.compare_button)
        studies.addWidget(self.tune_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.status = QLabel(" ")
        self.status.setWordWrap(True)

        results = QGroupBox("Predictions")
        rl = QVBoxLayout(results)
        self.run_label = QLabel("No finished run yet.")
        self.run_label.setWordWrap(True)
        rl.addWidget(self.run_label)
        row = QHBoxLayout()
        self.predict_button = QPushButton("Predict unlabelled")
        self.predict_button.setToolTip("Apply the run's fold models to the unlabelled items")
        self.predict_button.clicked.connect(self.predict_unlabelled)
        self.next_button = QPushButton("Label next")
        self.next_button.setToolTip("Select the unlabelled item the model is least sure about (U)")
        self.next_button.clicked.connect(self.label_next)
        row.addWidget(self.predict_button)
        row.addWidget(self.next_button)
        rl.addLayout(row)
        self.gradcam_button = QPushButton("Grad-CAM for this item")
        self.gradcam_button.setToolTip("Where the model looked: a heat map over the slice view")
        self.gradcam_button.clicked.connect(self.gradcam)
        rl.addWidget(self.gradcam_button)
        self.overlay_controls = OverlayControls(self.overlay)
        rl.addWidget(self.overlay_controls)
        layout.addWidget(results)
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(2000)
        self.log.setMinimumHeight(90)
        self.log.setPlaceholderText("Messages from the run appear here.")
        layout.addWidget(self.log, 1)

        # Train/Cancel, the plan and the progress stay in view above the scrolling form: they
        # are what the user watches during a run, whatever the dock's height.
        head = QVBoxLayout()
        head.setContentsMargins(6, 6, 6, 0)
        head.addLayout(buttons)
        head.addLayout(studies)
        head.addWidget(self.progress)
        head.addWidget(self.status)
        head.addWidget(self.plan_label)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.wheel_guard = guard_wheel(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        outer.addLayout(head)
        outer.addWidget(scroll, 1)
        self.setMinimumWidth(300)
        self._show_buttons(self.session.buttons())

    def _listen(self, session: TrainingSession) -> None:
        events = session.events
        events.buttons.connect(self._show_buttons)
        events.progress.connect(self._show_progress)
        events.status.connect(self.set_status)
        events.detail.connect(self.status.setText)
        events.log.connect(self._log)
        events.plots_reset.connect(self._reset_plots)
        events.plots_planned.connect(self._plan_plots)
        events.epoch.connect(self.plots.add_epoch)
        events.fold_done.connect(self.plots.add_fold)
        events.run_started.connect(self._run_started)
        events.run_ended.connect(self._run_ended)
        events.run_selected.connect(self._run_selected)
        events.run_label.connect(self.run_label.setText)

    # What a run gives back (buttons, Training menu): medview.ui.training_side_jobs
    def label_next(self) -> int | None:
        return self.side.label_next()

    def predict_unlabelled(self) -> JobBridge | None:
        return self.side.predict_unlabelled()

    def gradcam(self) -> JobBridge | None:
        return self.side.gradcam()

    def compare_models(self) -> None:
        from medview.ui.study_dialog import open_compare_dialog

        open_compare_dialog(self)

    def tune(self) -> None:
        from medview.ui.study_dialog import open_tune_dialog

        open_tune_dialog(self)

    def study_host(self) -> StudyHost:
        """What the study dialogs and windows (medview.ui.study_view) may use of the dock."""
        from medview.ui.study_view import StudyHost

        return StudyHost(
            window=self.window(),
            project=lambda: self.project,
            settings=self._study_settings,
            refusal=self._study_refusal,
            device=lambda: self.form.gpu_name or "cpu",
            set_running=self.session.set_study_running,
            apply=self.apply_settings,
            log=self.log.appendPlainText,
            views=self.study_views,
        )

    def _study_settings(self) -> tuple[str, dict[str, Any]]:
        plan = self.check()
        return (plan.kind if plan else None) or "2d", self.config()

    def _study_refusal(self) -> str | None:
        if self.project is None:
            return "Open a project first."
        if self.session.running:
            return "A run is in progress: wait for it to end or cancel it."
        return "A study is already running." if self.session.study_running else None

    def apply_settings(self, form: dict[str, Any], extra: dict[str, Any]) -> None:
        """``form`` into the form; ``extra`` (a search's weight decay, which the form does not
        show) is added to the next runs."""
        self.form.set_values(form)
        self.session.overrides.update(extra)

    # ------------------------------------------------------------------ project
    def set_project(self, project: Project | None) -> None:
        self._keep_form(project)
        self.overlay.clear()
        self.history.set_project(project)
        self.session.set_project(project)
        self.run_on.set_project(project.folder if project is not None else None)
        if project is not None:
            model = self.host.browser.model  # it has just read the project's predictions
            if any(model.prediction(it.id) for it in model.items()):
                show_prediction_columns(self.host.browser)
            self.form.probe_device()
        self.check()

    def _keep_form(self, project: Project | None) -> None:
        """The form's values (and a study's weight decay) belong to the project they were set
        in: "Epochs 1" and "Custom (edited)" were carried to the next project."""
        if self.project is not None:
            saved = (self.form.values(), dict(self.session.overrides))
            self._forms[str(self.project.folder)] = saved
        form, overrides = (
            self._forms.get(str(project.folder), (None, {})) if project else (None, {})
        )
        self.session.overrides = dict(overrides)
        blocked = self.form.blockSignals(True)  # set_project checks the plan once, after
        if form is None:
            self.form.reset()
        else:
            self.form.restore(form)
        self.form.blockSignals(blocked)

    def use_run(self, run_id: str, load_plots: bool = True) -> None:
        """Put this run in view (Run history): its predictions in the list, its plots, its
        confusion filters; Grad-CAM and "Predict unlabelled" use it."""
        self.overlay.clear()  # a Grad-CAM map of the previous run's model
        self.session.use_run(run_id, load_plots)
        self.refresh_predictions()

    def _run_selected(self, run_id: str, load_plots: bool) -> None:
        if load_plots and self.project is not None:
            self.plots.load_run(self.project.runs_dir / run_id)

    # ------------------------------------------------------------------ plan
    def config(self, once: dict[str, Any] | None = None) -> dict[str, Any]:
        """The settings a run would get now: the form's, ``once``'s, the session's overrides."""
        plan_kind = self.plan.kind if self.plan else None
        return self.session.run_settings(self.form.config(plan_kind), once)

    def schedule_check(self) -> None:
        """Re-check the plan once labelling pauses, on a pool thread: a check reads every
        labelled item (~0.1 s for 10 000), which must not land on a key press."""
        self._check_timer.start()

    def _check_in_background(self) -> None:
        project = self.project
        if project is None:
            return
        config = self.session.run_settings(self.form.config())
        workers.start(
            check_plan,
            project,
            config,
            on_done=lambda plan: self._show_plan(plan) if project is self.project else None,
        )

    def check(self) -> PlanCheck | None:
        """The plan check, now (the form changed, or Train was pressed)."""
        return self._check()

    def _check(self, once: dict[str, Any] | None = None) -> PlanCheck | None:
        if self.project is None:
            self.plan_label.setText("Open a project to train.")
            self.session.set_plan(None)
            return None
        config = self.session.run_settings(self.form.config(), once)
        return self._show_plan(check_plan(self.project, config))

    def _show_plan(self, plan: PlanCheck) -> PlanCheck:
        # A number field holding a typo reads as Auto: the run must not start on it.
        plan.errors[:0] = [p for p in self.form.problems() if p not in plan.errors]
        was_mixed = bool(self.session.plan and self.session.plan.mixed)
        if plan.mixed and not was_mixed:
            # Both kinds: the form's one "Train on" says which (a second box in the panel
            # once said "3D volumes" while the form said "Auto (majority kind)").
            self.form.show_field("kind")
        color = "#2e7d32" if plan.ok else "#c62828"
        html = plan.text(brief=True).replace("\n", "<br>")
        self.plan_label.setText(f"<span style='color:{color}'>{html}</span>")
        # The list of Auto's choices fills the dock at its default height: it is a hover away.
        self.plan_label.setToolTip(plan.auto_text() if plan.auto_chosen else "")
        self.session.set_plan(plan)
        return plan

    # ------------------------------------------------------------------ running
    def start(self, once: dict[str, Any] | None = None) -> bool:
        """Train with the form's settings (and ``once``'s, for this start only: Run again's
        settings that the form does not show); False if no run may start now."""
        if not self.session.may_start:
            return False
        self._check(once)
        problem = self.run_on.problem()
        if problem:
            self.plan_label.setText(f"<span style='color:#c62828'>Run on: {problem}</span>")
            return False
        config = self.session.begin(self.config(once))
        if config is None:
            return False
        if self.run_on.value() != "local":
            config = {**config, RUN_ON: self.run_on.value()}
        bridge = JobBridge(config, self.session.target, self)
        bridge.message.connect(self.session.handle)
        self.bridge = bridge
        self.log.clear()
        self.progress.setStyleSheet("")
        bridge.start()
        return True

    def cancel(self) -> None:
        if self.bridge is not None and self.session.cancel():
            self.bridge.cancel()

    def _reset_plots(self, layout: PlotsLayout) -> None:
        self.plots.reset(layout.classes, layout.folds, layout.epochs)

    def _plan_plots(self, layout: PlotsLayout) -> None:
        if not self.plots.prepared_for(layout.classes, layout.folds, layout.epochs):
            self.plots.reset(layout.classes, layout.folds, layout.epochs)  # else done at the click

    def _run_started(self, run_id: str, _plan: object) -> None:
        self.history.refresh()
        self.runStarted.emit(run_id)

    def _show_progress(self, progress: ProgressText) -> None:
        self.progress.setValue(progress.value)
        self.progress.setFormat(progress.text)
        if progress.failed:
            self.progress.setStyleSheet("QProgressBar::chunk { background: #c62828; }")

    def _log(self, text: str, level: str) -> None:
        prefix = {"warning": "⚠ ", "error": "✗ "}.get(level, "")
        self.log.appendPlainText(prefix + text)

    def _run_ended(self, end: RunEnd) -> None:
        self.history.refresh()
        if end.metrics is not None:
            self.plots.set_final(end.metrics)
        if end.status == "failed":
            self._show_failure(end)
        # Last, once the browser shows the run's predictions: listeners (and tests) see them.
        self.refresh_predictions(lambda: self.runEnded.emit(end.status, end.run_id))

    def _show_failure(self, end: RunEnd) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Warning, "Training failed", end.error, parent=self.window()
        )
        box.setInformativeText(
            (end.hint + "\n\n" if end.hint else "")
            + "The run is marked failed; the window and your labels are fine."
        )
        box.setDetailedText(end.traceback)
        box.open()  # not exec(): nothing waits on the user

    def refresh_predictions(self, then: Callable[[], None] | None = None) -> None:
        """Read the run in view's predictions on a pool thread (~0.1 s for 10 000 items), then show
        them in the browser with their columns beside the label; ``then`` runs after."""
        project = self.project
        browser = self.host.browser

        def apply(predictions: dict[int, Any]) -> None:
            if project is self.project and project is not None:
                browser.model.set_predictions(predictions)
                if predictions:
                    show_prediction_columns(browser)
            if then is not None:
                then()

        if project is None:
            apply({})
            return
        workers.start(project.predictions_in_view, on_done=apply, on_error=lambda _exc: apply({}))

    def set_status(self, text: str, error: bool = False) -> None:
        """The dock's status line and the window's status bar."""
        self.status.setText(f"<span style='color:#c62828'>{text}</span>" if error else text)
        self.host.show_status(text, 10000)

    def _show_buttons(self, buttons: Buttons) -> None:
        self.train_button.setEnabled(buttons.train)
        self.cancel_button.setEnabled(buttons.cancel)
        self.compare_button.setEnabled(buttons.compare)
        self.tune_button.setEnabled(buttons.compare)
        self.predict_button.setEnabled(buttons.predict)
        self.gradcam_button.setEnabled(buttons.predict)
        self.next_button.setEnabled(buttons.label_next)

    # ------------------------------------------------------------------ after a run
    def runs_deleted(self, run_ids: list[str]) -> None:
        if self.session.runs_deleted(run_ids):
            self.overlay.clear()
        self.refresh_predictions()

    def item_shown(self, item_id: int) -> None:
        self.overlay.render(item_id)

    def shutdown(self) -> None:
        if self.bridge is not None and self.bridge.running:
            self.bridge.kill()
        self.side.shutdown()
