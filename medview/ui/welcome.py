"""The welcome screen (no project open) and the new-project dialog."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from medview.core.errors import ProjectError
from medview.core.labels import PRESETS, parse_class_names
from medview.core.project import DB_NAME, PROJECT_SUFFIX, Project
from medview.ui import workers
from medview.ui.style import icon

if TYPE_CHECKING:
    from medview.ui.main_window import MainWindow


class WelcomeWidget(QWidget):
    newRequested = Signal()
    openRequested = Signal()
    exampleRequested = Signal()
    recentRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        column = QVBoxLayout()
        column.addStretch(1)
        header = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(icon("medview").pixmap(QSize(72, 72)))
        header.addWidget(logo)
        title = QLabel(
            "<div style='font-size:26pt; font-weight:600'>medview</div>"
            "<div style='font-size:11pt'>Browse, label and classify images and volumes</div>"
        )
        header.addWidget(title, 1)
        column.addLayout(header)
        column.addSpacing(18)

        buttons = QHBoxLayout()
        for text, name, signal, tip in (
            ("New project…", "new", self.newRequested, "Start a project and import images"),
            ("Open project…", "open", self.openRequested, "Open a .medview project folder"),
            ("Open example", "example", self.exampleRequested, "A small labelled example"),
        ):
            button = QToolButton()
            button.setText(text)
            button.setIcon(icon(name))
            button.setIconSize(QSize(36, 36))
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setMinimumSize(140, 90)
            button.setToolTip(tip)
            button.clicked.connect(signal)
            buttons.addWidget(button)
        column.addLayout(buttons)
        column.addSpacing(18)

        column.addWidget(QLabel("<b>Recent projects</b>"))
        self.recent = QListWidget()
        self.recent.setMinimumWidth(460)
        self.recent.setMaximumHeight(200)
        self.recent.itemActivated.connect(self._open_recent)
        self.recent.itemClicked.connect(self._open_recent)
        column.addWidget(self.recent)
        hint = QLabel("Tip: drop image files or folders on this window to import them.")
        hint.setEnabled(False)  # the palette's muted text colour, light or dark
        column.addWidget(hint)
        column.addStretch(2)
        outer.addLayout(column)
        outer.addStretch(1)

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        for path in paths:
            exists = (Path(path) / DB_NAME).is_file()
            name = Path(path).name.removesuffix(PROJECT_SUFFIX)
            item = QListWidgetItem(f"{name}    {path}" if exists else f"{name}    (missing) {path}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            if not exists:
                item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(item)
        if not paths:
            placeholder = QListWidgetItem("No recent projects yet")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(placeholder)

    def _open_recent(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.recentRequested.emit(path)


class NewProjectDialog(QDialog):
    """Where the project goes and which label set it starts with."""

    CUSTOM = "Custom…"

    def __init__(self, parent: QWidget | None = None, folder: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.setMinimumWidth(480)
        form = QFormLayout(self)
        self.name = QLineEdit("my-project")
        form.addRow("Name", self.name)
        location = QHBoxLayout()
        self.folder = QLineEdit(folder or str(Path.home()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        location.addWidget(self.folder, 1)
        location.addWidget(browse)
        form.addRow("Location", location)
        self.preset = QComboBox()
        for key, names in PRESETS.items():
            self.preset.addItem(" / ".join(names), key)
        self.preset.addItem(self.CUSTOM, None)
        self.preset.currentIndexChanged.connect(self._preset_changed)
        form.addRow("Classes", self.preset)
        self.custom = QLineEdit(placeholderText="Comma-separated, e.g. control, treated, unsure")
        self.custom.setEnabled(False)
        form.addRow("", self.custom)
        self.error = QLabel()
        self.error.setStyleSheet("color: #d9534f")
        form.addRow(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Project location", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _preset_changed(self) -> None:
        self.custom.setEnabled(self.preset.currentData() is None)

    def classes(self) -> list[str]:
        key = self.preset.currentData()
        return list(PRESETS[key]) if key else parse_class_names(self.custom.text())

    def project_path(self) -> Path:
        name = self.name.text().strip().removesuffix(PROJECT_SUFFIX)
        return Path(self.folder.text()).expanduser() / f"{name}{PROJECT_SUFFIX}"

    def _accept(self) -> None:
        try:
            if not self.name.text().strip():
                raise ProjectError("give the project a name")
            self.classes()
            if (self.project_path() / DB_NAME).exists():
                raise ProjectError(f"{self.project_path()} already exists")
        except ProjectError as exc:
            self.error.setText(str(exc))
            return
        self.accept()


def example_path() -> Path:
    """Where the example project is written once: the same folder as ``medview demo``."""
    from medview.demo import DEFAULT_DEMO_PATH

    return Path(DEFAULT_DEMO_PATH)


def open_example(window: MainWindow) -> None:
    """Open the example project, writing it first (on a worker thread) if needed."""
    path = window.example_path()
    if (path / DB_NAME).is_file():
        window.open_project(path)
        return

    def create() -> Project:
        from medview.demo import create_demo_project

        path.parent.mkdir(parents=True, exist_ok=True)
        return create_demo_project(path)

    def finish() -> None:
        QApplication.restoreOverrideCursor()
        window.setEnabled(True)
        window.statusBar().clearMessage()

    def ready(project: Project) -> None:
        finish()
        window.set_project(project)

    def failed(exc: Exception) -> None:
        finish()
        # A half-written example would be opened next time: remove it (only that folder).
        shutil.rmtree(path, ignore_errors=True)
        window.error("Cannot create the example project", str(exc))

    window.statusBar().showMessage("Writing the example project (a few seconds)…")
    window.setEnabled(False)
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    workers.start(create, on_done=ready, on_error=failed)
