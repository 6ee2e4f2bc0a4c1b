"""Importing dropped files and folders: options, a cancellable progress dialog, a summary.

The import runs on a pool thread (``import_sources`` reads every file); progress comes back
through a queued signal and cancel is a flag the importer polls between files.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressDialog,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from medview.core.project import Project
from medview.ui.workers import Task, keep_alive

if TYPE_CHECKING:  # the importer's modules load with the first import, not at start-up
    from medview.io.import_report import ImportReport

# The "Class folder" choices; index N >= 1 is --label-from folder:N.
FOLDER_LEVELS = (
    "nearest folder named like a class",
    "1: the file's own folder",
    "2: its parent folder",
    "3: three levels up",
    "4: four levels up",
)


class ImportOptionsDialog(QDialog):
    """Asks how the dropped files should be labelled and split before importing."""

    def __init__(
        self, sources: Sequence[str], class_names: list[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        shown = "\n".join(str(s) for s in list(sources)[:8])
        more = f"\n… and {len(sources) - 8} more" if len(sources) > 8 else ""
        layout.addWidget(QLabel(f"Import into the project:\n{shown}{more}"))
        form = QFormLayout()
        self.label_from_folder = QCheckBox("Label from the folder name")
        self.label_from_folder.setToolTip(
            f"Files inside a folder named like a class ({', '.join(class_names)}) get that label"
        )
        self.label_from_folder.setChecked(_folders_match(sources, class_names))
        form.addRow(self.label_from_folder)
        # Which folder holds the class: root/patient/class/file needs "1", not the default.
        self.folder_level = QComboBox()
        self.folder_level.addItems(FOLDER_LEVELS)
        self.folder_level.setToolTip(
            "Which folder names the class. The first choice looks for a folder named like a "
            "class, else takes the top folder of what you dropped; for folders such as "
            "patient/class/image.png pick the file's own folder (1)"
        )
        self.folder_level.setEnabled(self.label_from_folder.isChecked())
        self.label_from_folder.toggled.connect(self.folder_level.setEnabled)
        form.addRow("Class folder", self.folder_level)
        example = QLabel(f"e.g. …/{class_names[0]}/scan01.nii.gz is labelled {class_names[0]}")
        example.setEnabled(False)
        form.addRow(example)
        self.group_pattern = QLineEdit(placeholderText=r"optional, e.g. mouse\d+")
        self.group_pattern.setToolTip(
            "A regular expression: the part of each file path it matches becomes the item's "
            "group (patient, animal), so one animal's images never end up on both sides of a "
            "cross-validation split"
        )
        form.addRow("Group from path", self.group_pattern)
        self.split = QComboBox()
        self.split.addItems(["(none)", "train", "val", "test"])
        form.addRow("Split", self.split)
        layout.addLayout(form)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def options(self) -> dict[str, Any]:
        split = self.split.currentText()
        level = self.folder_level.currentIndex()
        label_from = None
        if self.label_from_folder.isChecked():
            label_from = f"folder:{level}" if level > 0 else "folder"
        return {
            "label_from": label_from,
            "split": None if split == "(none)" else split,
            "group_pattern": self.group_pattern.text().strip() or None,
        }


def _folders_match(sources: Sequence[str], class_names: list[str]) -> bool:
    """Suggest labelling from folders when the dropped folders contain class-named ones."""
    lowered = {n.lower() for n in class_names}
    for source in sources:
        path = Path(source)
        if path.is_dir():
            try:
                if any(c.is_dir() and c.name.lower() in lowered for c in path.iterdir()):
                    return True
            except OSError:
                continue
        if path.parent.name.lower() in lowered:
            return True
    return False


class ImportRunner(QObject):
    """Runs one import; ``finished(report)`` or ``failed(message)`` on the GUI thread."""

    finished = Signal(object)  # the ImportReport
    failed = Signal(str)

    def __init__(
        self,
        project: Project,
        sources: Sequence[str],
        options: dict[str, Any],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.project = project
        self.sources = [str(s) for s in sources]
        self.options = options
        self.cancelled = threading.Event()
        self.report: ImportReport | None = None
        progress = QProgressDialog("Importing…", "Cancel", 0, 0, parent)
        progress.setWindowTitle("Import")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(300)  # no flash for a handful of files
        progress.setAutoClose(False)
        progress.setAutoReset(False)
        progress.canceled.connect(self.cancel)
        self.progress: QProgressDialog | None = progress  # None once closed
        self.running = False
        self._updating = False
        self._pending: tuple[int, int, str] | None = None

    def cancel(self) -> None:
        self.cancelled.set()
        if self.progress is not None:
            self.progress.setLabelText("Cancelling after the current file…")

    def start(self) -> None:
        task = Task(self._work)
        keep_alive(task)
        self._task_signals = task.signals
        task.signals.progress.connect(self._on_progress)
        task.signals.finished.connect(self._on_finished)
        task.signals.failed.connect(self._on_failed)
        self.running = True
        QThreadPool.globalInstance().start(task)

    def _work(self) -> ImportReport:
        from medview.io.importer import import_sources

        signals = self._task_signals
        return import_sources(
            self.project,
            self.sources,
            progress=lambda done, total, message: signals.progress.emit(
                int(done), int(total), str(message)
            ),
            cancel=self.cancelled.is_set,
            **self.options,
        )

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if self.progress is None or self.cancelled.is_set():
            return
        self._pending = (done, total, message)
        if self._updating:
            # A window-modal progress dialog processes events inside setValue, which can
            # deliver the next progress signal right here. Calling setValue again from inside
            # itself (and then resetting the dialog from the innermost call) crashed Qt; the
            # outer call applies the latest values when its setValue returns.
            return
        self._updating = True
        try:
            while self._pending is not None and self.progress is not None:
                done, total, message = self._pending
                self._pending = None
                progress = self.progress
                progress.setLabelText(f"{message}\n{done} of {total}" if total else message)
                progress.setMaximum(max(total, 0))
                progress.setValue(min(done, total) if total else 0)
        finally:
            self._updating = False

    def _close_progress(self) -> None:
        self.running = False
        if self._updating:  # never reset or delete the dialog under its own setValue
            QTimer.singleShot(0, self._close_progress)
            return
        if self.progress is not None:
            self.progress.reset()
            self.progress.hide()
            self.progress.deleteLater()
            self.progress = None

    def _on_finished(self, report: ImportReport) -> None:
        self._close_progress()
        self.report = report
        self.finished.emit(report)

    def _on_failed(self, exc: Exception) -> None:
        self._close_progress()
        self.failed.emit(str(exc) or type(exc).__name__)


def _rows(report: ImportReport) -> list[tuple[str, str]]:
    """(file, reason) for every skipped file and every duplicate left out."""
    rows = [(str(entry.path), str(entry.reason)) for entry in report.skipped]
    for dup in report.duplicates:
        existing = dup.existing
        why = f"already in the project (same content as {existing})" if existing else "duplicate"
        rows.append((str(dup.path), why))
    return rows


class ImportSummaryDialog(QDialog):
    """What was imported, and every skipped file with its reason (copyable)."""

    def __init__(
        self, report: ImportReport, cancelled: bool = False, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        cancelled = cancelled or report.cancelled
        self.setWindowTitle("Import cancelled" if cancelled else "Import finished")
        self.resize(680, 400)
        layout = QVBoxLayout(self)
        # The per-file lines of the report (indented) are in the table below instead.
        lines = [ln for ln in report.summary_lines() if not ln.startswith((" ", "\t"))]
        if cancelled and not any("cancel" in ln for ln in lines):
            lines.append("Cancelled: the files imported before cancelling are kept.")
        self.summary = QLabel("\n".join(lines))
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        rows = _rows(report)
        self.skipped = QTableWidget(len(rows), 2)
        self.skipped.setHorizontalHeaderLabels(["File not imported", "Reason"])
        self.skipped.verticalHeader().hide()
        self.skipped.setWordWrap(False)
        self.skipped.setTextElideMode(Qt.TextElideMode.ElideLeft)  # keep the file name
        header = self.skipped.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.skipped.setColumnWidth(0, 330)
        for row, (path, reason) in enumerate(rows):
            for column, text in enumerate((path, reason)):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                self.skipped.setItem(row, column, cell)
        self.skipped.setVisible(bool(rows))
        layout.addWidget(self.skipped, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        copy = QPushButton("Copy")
        copy.setToolTip("Copy the summary and the files not imported to the clipboard")
        copy.clicked.connect(lambda: QApplication.clipboard().setText(self.text()))
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)

    def text(self) -> str:
        rows = [
            f"{self.skipped.item(r, 0).text()}\t{self.skipped.item(r, 1).text()}"
            for r in range(self.skipped.rowCount())
        ]
        return "\n".join([self.summary.text(), *rows])
