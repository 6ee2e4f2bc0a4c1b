"""The main window's importing: dropped or chosen files and folders go through the import
options, a background import with progress, and a summary; a dropped project folder is opened.
A mixin of :class:`medview.ui.main_window.MainWindow` (which owns ``project``, ``browser``,
``settings``, ``import_runner`` and the ``importFinished`` signal used here)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QMainWindow

from medview.core.project import Project
from medview.ui.browser import BrowserWidget
from medview.ui.import_dialog import ImportOptionsDialog, ImportRunner, ImportSummaryDialog
from medview.ui.settings import Settings

if TYPE_CHECKING:
    from medview.io.import_report import ImportReport
    from medview.ui.slice_view import SliceView


class WindowImporting(QMainWindow):
    """The importing part of the main window (its widgets are made by MainWindow._build)."""

    project: Project | None
    browser: BrowserWidget
    settings: Settings
    import_runner: ImportRunner | None
    last_import_report: ImportReport | None
    summary_dialog: ImportSummaryDialog | None
    slice_view: SliceView

    def import_paths(self, paths: list[str]) -> ImportRunner | None:
        """Ask how to label and split ``paths``, then import them in the background."""
        if self.project is None and self.new_project() is None:
            return None
        assert self.project is not None
        if self.refused_read_only("nothing can be imported into it"):
            return None
        if self.import_runner is not None and self.import_runner.running:
            self.statusBar().showMessage("An import is already running.", 5000)
            return None
        dialog = ImportOptionsDialog(paths, self.project.class_names(), self)
        if dialog.exec() != ImportOptionsDialog.DialogCode.Accepted:
            return None
        runner = ImportRunner(self.project, paths, dialog.options(), self)
        runner.finished.connect(lambda report: self._import_done(runner, report))
        runner.failed.connect(lambda message: self.error("Import failed", message))
        self.import_runner = runner
        runner.start()
        return runner

    def _import_done(self, runner: ImportRunner, report: ImportReport) -> None:
        self.last_import_report = report
        had_current = self.browser.current_id()
        before = {item.id for item in self.browser.model.items()}
        if report.added_classes:
            self.refresh_classes()  # "label from folder" met a new class name
        self.browser.model.reload()
        self.browser.update_counts()
        new = [item.id for item in self.browser.model.items() if item.id not in before]
        self.browser.note_new_items(new)
        if had_current is not None:
            self.browser.select_item(had_current)
        else:
            self.browser.select_first()
        if self.browser.current_id() is None and self.browser.model.items():
            # Not "This project has no images yet": the import worked, a filter hides it.
            self.slice_view.show_message("Select an item on the left.")
        self.summary_dialog = ImportSummaryDialog(report, runner.cancelled.is_set(), self)
        self.summary_dialog.open()  # not exec(): the window keeps working behind it
        self.importFinished.emit(report)

    def import_dialog(self, folders: bool) -> None:
        start = str(self.settings.value("import/lastFolder", str(Path.home())))
        if folders:
            folder = QFileDialog.getExistingDirectory(self, "Import a folder", start)
            paths = [folder] if folder else []
        else:
            paths, _ = QFileDialog.getOpenFileNames(self, "Import images", start)
        if paths:
            self.settings.set_value("import/lastFolder", str(Path(paths[0]).parent))
            self.import_paths(paths)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            if len(paths) == 1 and (Path(paths[0]) / "project.db").is_file():
                self.statusBar().showMessage("Drop to open this project")
            elif self.project is not None:
                self.statusBar().showMessage(f"Drop to import into {self.project.name}")

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.statusBar().clearMessage()
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        self.statusBar().clearMessage()
        if len(paths) == 1 and (Path(paths[0]) / "project.db").is_file():
            self.open_project(paths[0])  # a project folder is opened, not imported
        else:
            self.import_paths(paths)
