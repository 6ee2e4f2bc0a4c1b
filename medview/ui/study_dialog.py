"""The "Compare models…" and "Tune…" dialogs and the start of their background job.

Compare: tick the models (each row shows its parameters, MACs at the study's input size and
an estimated time), and one job trains them one after another on the same folds, seed,
input size and budget (training/studies/study.py); the study view (study_view.py) fills in as each
run ends. Tune: an Optuna search (training/studies/tune.py) over the form's model, or over the 3D
models scored by AUC and MACs. Both jobs are spawned processes (medview.jobs.runner, the
same machinery as a training run), so torch never loads in the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from medview.jobs.targets import target
from training.recipe import model_costs, tune_space
from training.recipe.config import (
    DEFAULT_SIZE_2D_IMAGENET,
    MODELS_2D,
    MODELS_3D,
    TrainConfig,
    shared_settings,
)

if TYPE_CHECKING:
    from medview.ui.study_view import StudyHost, StudyView
    from medview.ui.training_panel import TrainingPanel

STUDY_TARGET = target("study")
TUNE_TARGET = target("tune")
DEFAULT_TICKED = {
    "2d": ("cnn_small", "mobilenet_v2", "resnet18", "densenet121"),
    "3d": ("cnn3d_small", "medicalnet_resnet10", "medicalnet_resnet18"),
}


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"≈ {max(1, round(seconds))} s"
    if seconds < 5400:
        return f"≈ {round(seconds / 60)} min"
    return f"≈ {seconds / 3600:.1f} h"


def format_macs(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e9:.2f} G" if n >= 1e9 else f"{n / 1e6:.1f} M"


def format_count(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.0f} k"


class CompareDialog(QDialog):
    """Pick the models of a study; the shared settings come from the training form."""

    def __init__(
        self,
        kind: str,
        settings: dict[str, Any],
        n_items: int,
        rate: float | None,
        device: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare models")
        self.view: StudyView | None = None  # the study's view, once "Start study" started it
        self.kind = kind
        self.settings = settings
        self.n_items = n_items
        models = MODELS_3D if kind == "3d" else MODELS_2D
        cfg = shared_settings(
            TrainConfig.from_dict({k: v for k, v in settings.items() if k != "project"})
        )
        self.size = cfg.size or (
            max(cfg.resolved_size(m) for m in models) if kind == "3d" else DEFAULT_SIZE_2D_IMAGENET
        )
        self.rate = (
            rate
            or model_costs.DEFAULT_MACS_PER_SECOND["gpu" if device not in ("cpu", "CPU") else "cpu"]
        )
        self.measured = rate is not None
        self._build(models, cfg)
        self.resize(600, self.sizeHint().height())
        self._update_total()

    def _build(self, models: tuple[str, ...] | list[str], cfg: TrainConfig) -> None:
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Every ticked model is trained as its own run on <b>the same folds, seed, input "
            "size and budget</b>, one after another in the background. The study view then "
            "compares them with paired statistics."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self._build_table(models)
        layout.addWidget(self.table)
        folds = "hold-out" if cfg.holdout else f"{cfg.folds}-fold CV"
        shared = QLabel(
            f"Shared: {self.n_items} labelled {self.kind.upper()} items, {folds}, seed "
            f"{cfg.seed}, {self.size} px input, {cfg.epochs} epochs, batch {cfg.batch_size}, "
            f"learning rate {cfg.lr:g}, augmentation {cfg.augment}."
        )
        shared.setWordWrap(True)
        layout.addWidget(shared)
        self.total = QLabel()
        self.total.setWordWrap(True)
        layout.addWidget(self.total)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.start_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.start_button.setText("Start study")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _build_table(self, models: tuple[str, ...] | list[str]) -> None:
        """One row per model: ticked by default for the usual candidates, with parameters,
        MACs at the study's input size and the estimated time."""
        self.table = QTableWidget(len(models), 4)
        self.table.setHorizontalHeaderLabels(["Model", "Parameters", "MACs / image", "Time"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        ticked = DEFAULT_TICKED[self.kind]
        for row, name in enumerate(models):
            item = QTableWidgetItem(name)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(Qt.CheckState.Checked if name in ticked else Qt.CheckState.Unchecked)
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.table.setItem(row, 0, item)
            cells = [
                format_count(model_costs.parameters(name)),
                format_macs(model_costs.macs(name, self.size)),
                format_duration(self._estimate(name)),
            ]
            for col, text in enumerate(cells, start=1):
                cell = QTableWidgetItem(text)
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, cell)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemChanged.connect(self._update_total)
        height = self.table.verticalHeader().length() + self.table.horizontalHeader().height()
        self.table.setFixedHeight(height + 4)  # every model visible, no empty band below

    def _estimate(self, name: str) -> float | None:
        cfg = self.settings
        folds = 1 if cfg.get("holdout") else int(cfg.get("folds") or 5)
        return model_costs.estimate_seconds(
            name, self.size, self.n_items, folds, int(cfg.get("epochs") or 1), self.rate
        )

    def models(self) -> list[str]:
        out = []
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    def set_models(self, names: list[str]) -> None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            name = item.data(Qt.ItemDataRole.UserRole)
            item.setCheckState(Qt.CheckState.Checked if name in names else Qt.CheckState.Unchecked)

    def _update_total(self, *_: Any) -> None:
        models = self.models()
        total = sum(self._estimate(m) or 0 for m in models)
        basis = "measured on this machine by earlier runs" if self.measured else "rough default"
        self.total.setText(
            f"<b>{len(models)} models</b>, estimated {format_duration(total)} in all "
            f"(throughput {basis}). Finished runs are kept if you cancel; the study can be "
            "resumed."
        )
        self.start_button.setEnabled(len(models) >= 2)


class TuneDialog(QDialog):
    """Budget, time limit and the search space of an Optuna search."""

    def __init__(
        self,
        kind: str,
        model: str | None,
        parent: QWidget | None = None,
        pretrained: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tune hyper-parameters")
        self.view: StudyView | None = None  # the search's view, once started
        layout = QVBoxLayout(self)
        intro = QLabel(
            "An Optuna search (TPE sampler; trials whose first fold falls below the median "
            "are pruned) over the learning rate, batch size, weight decay and augmentation "
            "strength. Every trial is a run on the same folds. A stopped search resumes."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.model_box = QComboBox()
        for name in MODELS_3D if kind == "3d" else MODELS_2D:
            self.model_box.addItem(name, name)
        if kind == "3d":
            self.model_box.insertItem(0, "3D models (cnn3d_small + MedicalNet depths)", "3d")
        index = self.model_box.findData(model) if model else 0
        self.model_box.setCurrentIndex(max(index, 0))
        form.addRow("Model", self.model_box)
        self.budget = QSpinBox(minimum=1, maximum=500, value=20)
        self.budget.setSuffix(" trials")
        form.addRow("Budget", self.budget)
        self.limit = QCheckBox("stop starting trials after")
        self.minutes = QDoubleSpinBox(minimum=1, maximum=10000, value=60, decimals=0)
        self.minutes.setSuffix(" min")
        form.addRow(self.limit, self.minutes)
        layout.addLayout(form)
        note = QLabel(
            f"{tune_space.train_layers_note(pretrained)} "
            "Searching over the 3D models scores each trial by AUC and MACs (no pruning)."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #555")
        layout.addWidget(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start search")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def request(self) -> dict[str, Any]:
        choice = self.model_box.currentData()
        out: dict[str, Any] = {"budget": self.budget.value()}
        if choice == "3d":
            out["space"] = "3d"
        else:
            out["models"] = [choice]
        if self.limit.isChecked():
            out["minutes"] = float(self.minutes.value())
        return out


# ---------------------------------------------------------------------- starting jobs
# The entry points take the Training dock's panel (its buttons and menu call them) and use
# only what its StudyHost gives.
def _busy(host: StudyHost) -> bool:
    refusal = host.refusal()
    if refusal is not None:
        QMessageBox.information(host.window, "Compare models", refusal)
        return True
    return False


def _train_settings(host: StudyHost) -> tuple[str, dict[str, Any]]:
    """The kind and the form's run settings, without the model (the study chooses it)."""
    kind, settings = host.settings()
    return kind, {k: v for k, v in settings.items() if k not in ("model", "run_id")}


def open_compare_dialog(panel: TrainingPanel) -> CompareDialog | None:
    """The (modal) dialog; "Start study" starts the job and opens its view (``dialog.view``)."""
    host = panel.study_host()
    project = host.project()
    if _busy(host) or project is None:
        return None
    from medview.core import study_store  # noqa: F401  (the project has the studies table)

    kind, settings = _train_settings(host)
    n_items = sum(1 for it in project.items(labelled=True) if it.kind == kind)
    rate = model_costs.measured_rate(r for r in project.runs() if r.status == "finished")
    device = "cpu" if settings.get("device") == "cpu" else host.device()
    dialog = CompareDialog(kind, settings, n_items, rate, device, host.window)

    def accepted() -> None:
        dialog.view = start_study(host, dialog.models())

    dialog.accepted.connect(accepted)
    dialog.exec()
    return dialog


def start_study(host: StudyHost, models: list[str], resume: str | None = None) -> StudyView:
    _kind, settings = _train_settings(host)
    config = {"project": str(_folder(host)), "train": settings, "models": models}
    if resume:
        config["resume"] = resume
    return _start(host, config, STUDY_TARGET)


def open_tune_dialog(panel: TrainingPanel) -> TuneDialog | None:
    host = panel.study_host()
    if _busy(host):
        return None
    kind, settings = host.settings()
    dialog = TuneDialog(kind, settings.get("model"), host.window, settings.get("pretrained"))

    def accepted() -> None:
        dialog.view = start_tune(host, dialog.request())

    dialog.accepted.connect(accepted)
    dialog.exec()
    return dialog


def start_tune(host: StudyHost, request: dict[str, Any]) -> StudyView:
    _kind, settings = _train_settings(host)
    config = {"project": str(_folder(host)), "train": settings, **request}
    return _start(host, config, TUNE_TARGET)


def _folder(host: StudyHost) -> Path:
    project = host.project()
    if project is None:
        raise RuntimeError("a study starts only in an open project (_busy checks it)")
    return project.folder


def _start(host: StudyHost, config: dict[str, Any], target: str) -> StudyView:
    from medview.ui.job_bridge import JobBridge
    from medview.ui.study_view import StudyView

    bridge = JobBridge(config, target, host.window, interval_ms=200)
    view = StudyView(host, bridge=bridge)
    bridge.start()
    bridge.ended.connect(lambda _status: host.set_running(False))
    host.set_running(True)  # Train, Compare and Tune wait for the study to end
    view.show()
    return view


def open_existing_study(panel: TrainingPanel) -> StudyView | None:
    """Pick one of the project's studies and show it."""
    host = panel.study_host()
    project = host.project()
    if project is None:
        return None
    studies = project.studies()
    if not studies:
        QMessageBox.information(host.window, "Studies", "This project has no studies yet.")
        return None
    labels = [f"{s.id}  ({s.kind}, {s.status})" for s in reversed(studies)]
    choice, ok = QInputDialog.getItem(host.window, "Open study", "Study:", labels, 0, False)
    if not ok:
        return None
    from medview.ui.study_view import StudyView

    view = StudyView(host, study_id=choice.split()[0])
    view.show()
    return view
