"""The Training dock: preset + Advanced form, plan check, Train / Cancel, progress with ETA,
log, and what a finished run gives back (predictions, Label next, Grad-CAM).

Every job (a run, "Predict unlabelled", a Grad-CAM map) is a spawned process driven by a
JobBridge, so torch never loads in the window's process and the window stays responsive.
training_dock.install(window) adds it to the main window.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
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

from medview.core import messages as msg
from medview.core.errors import MedviewError
from medview.core.project import Project
from medview.core.run_folder import RunFolder
from medview.jobs.runner import DEFAULT_TARGET
from medview.ui import workers
from medview.ui.job_bridge import JobBridge, explain_failure
from medview.ui.plots import LivePlots
from medview.ui.predictions import format_eta, show_prediction_columns
from medview.ui.run_history import RunHistory
from medview.ui.saliency import OverlayControls, SaliencyOverlay
from medview.ui.training_form import TrainingForm
from medview.ui.training_side_jobs import TrainingSideJobs
from training.plan import PlanCheck, check_plan

if TYPE_CHECKING:
    from medview.ui.main_window import MainWindow


class TrainingPanel(TrainingSideJobs):
    runStarted = Signal(str)  # run id
    runEnded = Signal(str, str)  # status, run id
    gradcamReady = Signal(int)  # item id
    predictionsReady = Signal(int)  # how many items were predicted

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.window = window
        self.project: Project | None = None
        self.bridge: JobBridge | None = None
        self.side_job: JobBridge | None = None  # Grad-CAM or prediction
        self.target = DEFAULT_TARGET  # tests swap in a worker that dies
        self.extra_config: dict[str, Any] = {}  # tests: threads, size, ...
        self.side_config: dict[str, Any] = {"threads": 1}
        self.plan: PlanCheck | None = None
        self.run_id: str | None = None  # the run Grad-CAM and "Predict unlabelled" use
        self.plots = LivePlots()
        self.history = RunHistory()
        self.history.runSelected.connect(self.use_run)
        self.overlay = SaliencyOverlay(window.slice_view)
        self._check_timer = QTimer(self, singleShot=True, interval=300)
        self._check_timer.timeout.connect(self._check_in_background)
        self._build()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.setContentsMargins(6, 6, 6, 6)
        self.form = TrainingForm()
        self.form.changed.connect(self.check)
        layout.addWidget(self.form)
        kind_row = QHBoxLayout()
        self.kind_label = QLabel("Train on")
        self.kind_box = QComboBox()
        self.kind_box.addItem("3D volumes", "3d")
        self.kind_box.addItem("2D images", "2d")
        self.kind_box.currentIndexChanged.connect(self.check)
        kind_row.addWidget(self.kind_label)
        kind_row.addWidget(self.kind_box, 1)
        layout.addLayout(kind_row)
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
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        outer.addLayout(head)
        outer.addWidget(scroll, 1)
        self.setMinimumWidth(300)
        self._update_buttons()

    def compare_models(self) -> None:
        from medview.ui.study_dialog import open_compare_dialog

        open_compare_dialog(self)

    def tune(self) -> None:
        from medview.ui.study_dialog import open_tune_dialog

        open_tune_dialog(self)

    # ------------------------------------------------------------------ project
    def set_project(self, project: Project | None) -> None:
        self.project = project
        self.overlay.clear()
        self.history.set_project(project)
        self.run_id = None
        if not (self.bridge and self.bridge.running):  # a running run keeps its plots
            self.plots.reset()
            self.run_label.setText("No finished run yet.")
        if project is not None:
            done = [r for r in project.runs() if r.status in ("finished", "cancelled")]
            done = [r for r in done if any((project.runs_dir / r.id).glob("fold*.safetensors"))]
            if done:
                self.use_run(done[-1].id, load_plots=True)
            model = self.window.browser.model  # it has just read the project's predictions
            if any(model.prediction(it.id) for it in model.items()):
                show_prediction_columns(self.window.browser)
            self.form.probe_device()
        self.check()

    def use_run(self, run_id: str, load_plots: bool = True) -> None:
        """Grad-CAM and "Predict unlabelled" use this run; its plots are shown."""
        if self.project is None:
            return
        self.run_id = run_id
        run_dir = self.project.runs_dir / run_id
        if load_plots and not (self.bridge and self.bridge.running):
            self.plots.load_run(run_dir)
        model = ""
        with contextlib.suppress(MedviewError):
            model = self.project.get_run(run_id).model or ""
        self.run_label.setText(f"Using run <b>{run_id}</b> ({model})")
        self._update_buttons()

    # ------------------------------------------------------------------ plan
    def config(self) -> dict[str, Any]:
        kind = self.kind_box.currentData() if self.kind_box.isVisible() or self._mixed() else None
        plan_kind = self.plan.kind if self.plan else None
        config = self.form.config(kind or plan_kind)
        return {**config, **self.extra_config}

    def _mixed(self) -> bool:
        return bool(self.plan and self.plan.mixed)

    def schedule_check(self) -> None:
        """Re-check the plan once labelling pauses, on a pool thread: a check reads every
        labelled item (~0.1 s for 10 000), which must not land on a key press."""
        self._check_timer.start()

    def _check_in_background(self) -> None:
        project = self.project
        if project is None:
            return
        forced, config = self._plan_inputs()
        workers.start(
            check_plan,
            project,
            config,
            forced,
            on_done=lambda plan: self._show_plan(plan, forced) if project is self.project else None,
        )

    def _plan_inputs(self) -> tuple[str | None, dict[str, Any]]:
        forced = self.kind_box.currentData() if self._mixed() else None
        return forced, {**self.form.config(forced), **self.extra_config}

    def check(self) -> PlanCheck | None:
        """The plan check, now (the form changed, or Train was pressed)."""
        if self.project is None:
            self.plan = None
            self.plan_label.setText("Open a project to train.")
            self._update_buttons()
            return None
        forced, config = self._plan_inputs()
        return self._show_plan(check_plan(self.project, config, forced), forced)

    def _show_plan(self, plan: PlanCheck, forced: str | None) -> PlanCheck:
        self.plan = plan
        auto = self.form.model_box.currentData() is None
        show_kind = plan.mixed and auto
        self.kind_label.setVisible(show_kind)
        self.kind_box.setVisible(show_kind)
        if show_kind and forced is None and plan.kind:
            self.kind_box.blockSignals(True)
            self.kind_box.setCurrentIndex(max(self.kind_box.findData(plan.kind), 0))
            self.kind_box.blockSignals(False)
        color = "#2e7d32" if plan.ok else "#c62828"
        html = plan.text().replace("\n", "<br>")
        self.plan_label.setText(f"<span style='color:{color}'>{html}</span>")
        self._update_buttons()
        return plan

    # ------------------------------------------------------------------ running
    def start(self) -> bool:
        if self.project is None or (self.bridge is not None and self.bridge.running):
            return False
        plan = self.check()
        if plan is None or not plan.ok:
            self._set_status("Cannot start: " + (plan.errors[0] if plan else "no project"), True)
            return False
        config = {"project": str(self.project.folder), **self.config()}
        bridge = JobBridge(config, self.target, self)
        bridge.started.connect(self._started)
        bridge.progress.connect(self._progress)
        bridge.epoch.connect(self._epoch)
        bridge.foldDone.connect(self.plots.add_fold)
        bridge.logged.connect(self._log)
        bridge.ended.connect(lambda status, b=bridge: self._ended(b, status))
        self.bridge = bridge
        self.log.clear()
        # Curves and legends are made now, at the click (the worker's first message confirms
        # the plan): made later, while the user works, they would be a stall.
        folds = [1] if config.get("holdout") else list(range(1, int(config["folds"]) + 1))
        classes = [c for c, n in plan.counts.items() if n]
        # Auto's epochs are known once the worker has planned (its Started message).
        self.plots.reset(classes, folds, int(config["epochs"] or 0))
        self.progress.setValue(0)
        self.progress.setStyleSheet("")
        self.progress.setFormat("starting the training process…")
        self._set_status(f"Starting {config['model'] or 'Auto'}…")
        self._t0 = time.monotonic()
        bridge.start()
        self._update_buttons()
        return True

    def cancel(self) -> None:
        if self.bridge is not None and self.bridge.running:
            self.bridge.cancel()
            self.progress.setFormat("cancelling after this batch…")
            self.cancel_button.setEnabled(False)

    def _started(self, run_id: str, plan: msg.RunPlan) -> None:
        classes, folds, epochs = plan.classes, plan.folds, plan.epochs
        if not self.plots.prepared_for(classes, folds, epochs or 0):  # else done at the click
            self.plots.reset(classes, folds, epochs or 0)
        self._set_status(
            f"Run {run_id}: {plan.model} on {plan.items} {plan.kind} "
            f"items, {len(plan.folds)} fold(s) × {plan.epochs} epochs, {plan.device}"
        )
        self.history.refresh()
        self.runStarted.emit(run_id)

    def _progress(self, stage: str, done: int, total: int) -> None:
        self.progress.setValue(int(100 * done / max(total, 1)))
        self.progress.setFormat(f"{stage} {done} / {total}")

    def _epoch(self, e: msg.Epoch) -> None:
        self.plots.add_epoch(e)
        folds = len(self.bridge.plan.folds) if self.bridge else 0
        self.progress.setValue(int(1000 * e.fraction_done))
        auc = f", val AUC {e.val_auc:.3f}" if e.val_auc is not None else ""
        self.progress.setFormat(
            f"fold {e.fold}/{folds or '?'} · epoch {e.epoch}/{e.epochs} · "
            f"ETA {format_eta(e.eta_seconds)}"
        )
        self.status.setText(f"loss {e.train_loss:.3f} (val {e.val_loss:.3f}){auc}")

    def _log(self, text: str, level: str) -> None:
        prefix = {"warning": "⚠ ", "error": "✗ "}.get(level, "")
        self.log.appendPlainText(prefix + text)

    def _ended(self, bridge: JobBridge, status: str) -> None:
        final = bridge.job.final
        run_id = bridge.run_id or ""
        # The user may have opened another project while the run went on: its results belong
        # to the run's own project, so only the messages are shown then.
        same = self.project is not None and str(self.project.folder) == bridge.job.config.get(
            "project"
        )
        self.history.refresh()
        if status == "finished":
            assert isinstance(final, msg.Finished)
            self._load_final(Path(final.run_dir))
            self.progress.setValue(1000)
            self.progress.setFormat(f"finished in {format_eta(time.monotonic() - self._t0)}")
            self._set_status(f"Run {run_id} finished; predictions are in the item list.")
            if same:
                self.use_run(run_id, load_plots=False)
        elif status == "cancelled":
            self.progress.setFormat("cancelled")
            self._set_status(f"Run {run_id or ''} cancelled; completed folds are kept.")
            if run_id and same and self.project is not None:
                run_dir = self.project.runs_dir / run_id
                self._load_final(run_dir)
                if RunFolder(run_dir).weight_folds():  # completed folds can explain
                    self.use_run(run_id, load_plots=False)
        else:
            error = getattr(final, "error", "the training process failed")
            self.progress.setFormat("failed")
            self.progress.setStyleSheet("QProgressBar::chunk { background: #c62828; }")
            self._set_status(f"Training failed: {error}", True)
            self._log(error, "error")
            box = QMessageBox(
                QMessageBox.Icon.Warning, "Training failed", error, parent=self.window
            )
            hint = explain_failure(error)
            box.setInformativeText(
                (hint + "\n\n" if hint else "")
                + "The run is marked failed; the window and your labels are fine."
            )
            box.setDetailedText(getattr(final, "traceback", "") or "")
            box.open()  # not exec(): nothing waits on the user
            self.error_box = box
        self._update_buttons()
        # Last, once the browser shows the run's predictions: listeners (and tests) see them.
        self.refresh_predictions(lambda: self.runEnded.emit(status, run_id))

    def refresh_predictions(self, then: Callable[[], None] | None = None) -> None:
        """Read the latest predictions on a pool thread (~0.1 s for 10 000 items), then show
        them in the browser with their columns beside the label; ``then`` runs after."""
        project = self.project

        def apply(predictions: dict[int, Any]) -> None:
            if project is self.project and project is not None:
                self.window.browser.model.set_predictions(predictions)
                if predictions:
                    show_prediction_columns(self.window.browser)
            if then is not None:
                then()

        if project is None:
            apply({})
            return
        workers.start(project.latest_predictions, on_done=apply, on_error=lambda _exc: apply({}))

    def _load_final(self, run_dir: Path) -> None:
        metrics = RunFolder(run_dir).read_metrics()
        if metrics is not None:
            self.plots.set_final(metrics)

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(f"<span style='color:#c62828'>{text}</span>" if error else text)
        self.window.statusBar().showMessage(text, 10000)

    def _update_buttons(self) -> None:
        running = self.bridge is not None and self.bridge.running
        side = self.side_job is not None and self.side_job.running
        has_project = self.project is not None
        self.train_button.setEnabled(
            has_project and not running and bool(self.plan and self.plan.ok)
        )
        self.cancel_button.setEnabled(running)
        study = getattr(self, "study_job", None)  # a study/search job (study_dialog.py)
        if study is not None and study.running:
            self.train_button.setEnabled(False)  # one job at a time: they share the CPU/GPU
            running = True
        ready = has_project and not running and bool(self.plan and self.plan.ok)
        self.compare_button.setEnabled(ready)
        self.tune_button.setEnabled(ready)
        usable = has_project and self.run_id is not None and not side
        self.predict_button.setEnabled(usable)
        self.gradcam_button.setEnabled(usable)
        self.next_button.setEnabled(has_project)

    # ------------------------------------------------------------------ after a run
    def runs_deleted(self, run_ids: list[str]) -> None:
        if self.run_id in run_ids:
            self.run_id = None
            self.overlay.clear()
            self.plots.reset()
            self.run_label.setText("No finished run selected.")
        self.refresh_predictions()
        self._update_buttons()

    def item_shown(self, item_id: int) -> None:
        self.overlay.render(item_id)

    def shutdown(self) -> None:
        for job in (self.bridge, self.side_job):
            if job is not None and job.running:
                job.kill()
