"""The main window: browser dock (left), slice view and label bar (centre), menus.

It owns the open :class:`Project` and wires the widgets to it. Everything slow (reading an
image, thumbnails, importing) runs on a thread pool; results arrive as queued signals.
"""

from __future__ import annotations

import contextlib
import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QUndoStack
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from medview.core.errors import MedviewError
from medview.core.image import Image
from medview.core.project import Item, Project
from medview.core.schema_check import SchemaError
from medview.ui import menus, workers
from medview.ui.browser import BrowserWidget
from medview.ui.clean_copy_offer import offer_clean_copy
from medview.ui.import_dialog import ImportRunner, ImportSummaryDialog
from medview.ui.item_status import load_warnings, status_text
from medview.ui.label_bar import LabelBar
from medview.ui.label_set_editor import LabelSetEditor
from medview.ui.label_writes import LabelWriter
from medview.ui.loader import ItemLoader
from medview.ui.message_bar import MessageBar
from medview.ui.project_watch import ProjectWatcher
from medview.ui.settings import Settings
from medview.ui.slice_view import SliceView
from medview.ui.welcome import NewProjectDialog, WelcomeWidget, example_path, open_example
from medview.ui.window_import import WindowImporting
from medview.ui.window_labels import WindowLabelling

if TYPE_CHECKING:
    from medview.io.import_report import ImportReport


class MainWindow(WindowImporting, WindowLabelling):
    projectOpened = Signal(object)  # the Project
    projectClosed = Signal()
    imageShown = Signal(int)  # item id, once its image is on screen (or failed to load)
    labelsChanged = Signal(list)  # item ids
    importFinished = Signal(object)  # the ImportReport
    relinked = Signal(int)  # how many missing items were found again

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.project: Project | None = None
        self.undo_stack = QUndoStack(self)
        self.writer = LabelWriter(self.undo_stack, self)
        self.writer.written.connect(self._labels_changed)
        self.writer.failed.connect(self._write_failed)
        self.writer.saved.connect(self._writes_saved)
        self.writer.refused.connect(self._undo_refused)
        self.watcher = ProjectWatcher(self)
        self.watcher.changed.connect(self.changed_elsewhere)
        self._run_signature: list[tuple[str, str]] = []
        self._item_tokens: dict[int, tuple[object, ...]] = {}
        self._item_windows: dict[int, tuple[float, float]] = {}  # item id: width, level
        self._item_census = (0, 0)
        self._label_row = 0
        self.loader = ItemLoader(self)
        self.loader.loaded.connect(self._display)
        self.loader.completed.connect(self._show_load_warnings)  # a progressive series' end
        self.loader.failed.connect(self._load_failed)
        self.current_item: Item | None = None
        self.last_import_report: ImportReport | None = None
        self.summary_dialog: ImportSummaryDialog | None = None
        self.import_runner: ImportRunner | None = None
        self.setAcceptDrops(True)
        self._dock_sized = False
        self.resize(1400, 860)
        self._build()
        self.menus: menus.Menus = menus.build(self)
        self._add_browser_dock()
        self._restore_layout()
        self._show_welcome()
        # Training dock, plots dock and Training menu; after the layout is restored,
        # so install() restores their saved place itself.
        from medview.ui.training_dock import TrainingDocks
        from medview.ui.training_dock import install as install_training

        self.training: TrainingDocks = install_training(self)
        self.training_panel = self.training.panel
        # Label-conflict / near-duplicate filters and actions.
        from medview.ui.duplicate_actions import DuplicateActions
        from medview.ui.duplicate_actions import install as install_duplicates

        self.duplicate_actions: DuplicateActions = install_duplicates(self)
        # Key slices for slice-mode training: button and K under the slice view.
        from medview.ui.key_slice import KeySliceControl
        from medview.ui.key_slice import install as install_key_slice

        self.key_slice: KeySliceControl = install_key_slice(self)
        # Open study windows (medview.ui.study_view); the Training dock keeps them alive.
        self.study_views: list[QWidget] = self.training.panel.study_views
        menus.update_enabled(self)  # the actions the installs above added, too

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.stack = QStackedWidget()
        self.welcome = WelcomeWidget()
        self.welcome.newRequested.connect(self.new_project)
        self.welcome.openRequested.connect(self.open_project_dialog)
        self.welcome.exampleRequested.connect(self.open_example)
        self.welcome.recentRequested.connect(self.open_project)
        self.stack.addWidget(self.welcome)

        self.workspace = QWidget()
        layout = QVBoxLayout(self.workspace)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        # Non-modal strips above the image: the project is read-only; a label was not saved.
        self.readonly_banner = MessageBar("readOnlyBanner")
        layout.addWidget(self.readonly_banner)
        self.error_bar = MessageBar("labelErrorBar")
        layout.addWidget(self.error_bar)
        self.slice_view = SliceView()
        self.slice_view.windowChanged.connect(self._remember_window)
        self.slice_view.set_colormap(str(self.settings.value("view/colormap", "Grey")))
        self.slice_view.cmap_box.currentTextChanged.connect(
            lambda name: self.settings.set_value("view/colormap", name)
        )
        layout.addWidget(self.slice_view, 1)
        self.label_bar = LabelBar(self.undo_stack)
        self.label_bar.labelRequested.connect(self.label_selected)
        self.label_bar.undoRequested.connect(self.undo)
        self.label_bar.redoRequested.connect(self.redo)
        self.label_bar.advance_box.setChecked(self.settings.flag("label/advance", True))
        self.label_bar.advanceToggled.connect(
            lambda on: self.settings.set_value("label/advance", on)
        )
        layout.addWidget(self.label_bar)
        self.stack.addWidget(self.workspace)
        self.setCentralWidget(self.stack)

        self.browser = BrowserWidget()
        self.browser.currentItemChanged.connect(self.show_item)
        self.browser.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.browser.table.customContextMenuRequested.connect(
            lambda pos: menus.browser_context_menu(self, pos)
        )

    def _add_browser_dock(self) -> None:
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        self.browser_dock = self.add_dock(self.browser, "Items", left, "browserDock")
        self.browser_dock.setMinimumWidth(320)
        self.resizeDocks([self.browser_dock], [560], Qt.Orientation.Horizontal)

    def add_dock(
        self,
        widget: QWidget,
        title: str,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
        name: str | None = None,
    ) -> QDockWidget:
        """Add a dock (the training panel uses this) with a toggle in the View menu; its
        position is saved with the window state under ``name``."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name or f"dock_{title.lower().replace(' ', '_')}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.menus.view.addAction(dock.toggleViewAction())
        return dock

    def _restore_layout(self) -> None:
        geometry = self.settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)

    def _show_welcome(self) -> None:
        self.welcome.set_recent(self.settings.recent_projects())
        self.stack.setCurrentWidget(self.welcome)
        self.browser_dock.hide()
        self.setWindowTitle("medview")
        menus.update_enabled(self)

    # ------------------------------------------------------------------ projects
    def open_project(self, path: str | Path) -> bool:
        try:
            project = Project.open(path)
        except SchemaError as exc:  # views/triggers in someone's project.db: offer a copy
            cleaned = offer_clean_copy(self, exc)
            if cleaned is None:
                return False
            project = cleaned
        except MedviewError as exc:
            self.settings.remove_recent_project(str(path))
            self.welcome.set_recent(self.settings.recent_projects())
            self.error("Cannot open the project", str(exc))
            return False
        self.set_project(project)
        return True

    def set_project(self, project: Project) -> None:
        """Show an already open project (the window takes ownership and closes it)."""
        self.close_project()
        self.project = project
        self.writer.set_project(project)
        self.settings.add_recent_project(project.folder)
        read_only = project.read_only
        suffix = " [read-only]" if read_only else ""
        self.setWindowTitle(f"{project.name}{suffix} — medview")
        if read_only:
            self._show_read_only_banner(project)
        else:
            # Remember which file is the project, to notice it being deleted later.
            with contextlib.suppress(MedviewError):
                project.check_on_disk()
        self.label_bar.set_classes(project.classes())
        self.browser.set_project(project)
        self._show_damaged_rows(project)
        self.stack.setCurrentWidget(self.workspace)
        self.browser_dock.show()
        if self.settings.window_state() is None and not self._dock_sized:
            # First run: a dock shown after the welcome screen starts at its minimum width.
            self._dock_sized = True
            QTimer.singleShot(
                0,
                lambda: self.resizeDocks([self.browser_dock], [540], Qt.Orientation.Horizontal),
            )
        self.slice_view.show_message(
            "Select an item on the left."
            if project.item_count()
            else "This project has no images yet.\n"
            "Drop files or folders here, or use File ▸ Import."
        )
        menus.update_enabled(self)
        self._apply_read_only(read_only)
        self._start_watching(project)
        self.projectOpened.emit(project)
        # Checking every file can be slow on a network share: off the GUI thread.
        workers.start(
            project.missing_items, on_done=lambda missing: self._report_missing(project, missing)
        )
        self.browser.select_first()
        self.browser.table.setFocus()

    def _report_missing(self, project: Project, missing: list[Item]) -> None:
        if missing and project is self.project:
            self.statusBar().showMessage(
                f"{len(missing)} item(s) point to files that are no longer there "
                f"(first: {missing[0].path})",
                15000,
            )

    def close_project(self) -> None:
        if self.project is None:
            return
        self.loader.reset()  # results of loads still running are dropped
        self._start_watching(None)
        self.writer.set_project(None)
        self.error_bar.clear()
        self.readonly_banner.clear()
        self.undo_stack.clear()
        self.current_item = None
        self._item_windows.clear()
        self.browser.set_project(None)
        self.slice_view.set_image(None)
        self.project.close()
        self.project = None
        self.projectClosed.emit()
        self._show_welcome()

    def new_project(self) -> Project | None:
        dialog = NewProjectDialog(self, self.settings.value("project/lastFolder", None))  # type: ignore[arg-type]
        if dialog.exec() != NewProjectDialog.DialogCode.Accepted:
            return None
        try:
            project = Project.create(dialog.project_path(), dialog.classes())
        except MedviewError as exc:
            self.error("Cannot create the project", str(exc))
            return None
        self.settings.set_value("project/lastFolder", str(dialog.project_path().parent))
        self.set_project(project)
        return project

    def open_project_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self,
            "Open a medview project (the .medview folder)",
            str(self.settings.value("project/lastFolder", str(Path.home()))),
        )
        if folder:
            self.open_project(folder)

    def example_path(self) -> Path:
        return example_path()

    def open_example(self) -> None:
        open_example(self)

    # ------------------------------------------------------------------ showing an item
    def show_item(self, item_id: int | None) -> None:
        if self.project is None or item_id is None:
            return
        if self.current_item is not None and self.current_item.id == item_id:
            return
        item = self.project.get_item(item_id)
        self.current_item = item
        self.label_bar.show_label(item.label, self.project.label_counts())
        self._show_unsaved_mark()
        self._status_for(item)
        if not self.loader.request(self.project, item):
            self.slice_view.set_loading(True)

    def _display(self, item: Item, image: Image) -> None:
        # The window/level the user set on this item, else the image's own default: a
        # "Custom" W/L or "CT lung" carried to the next volume (a mouse's) misled (issue 26).
        self.slice_view.set_image(image, self._item_windows.get(item.id))
        if "progressive" not in image.metadata:  # else: once the series is complete
            self._show_load_warnings(item, image)
        self.imageShown.emit(item.id)
        next_id = self.browser.neighbour(item.id, 1)
        if self.project is not None and next_id is not None:
            self.loader.prefetch(self.project, self.project.get_item(next_id))

    def _show_load_warnings(self, item: Item, image: Image) -> None:
        """What the reader noticed (a missing slice, no PixelSpacing, "N series: showing the
        largest", "4D file: showing the first volume"), beside the item and in the status
        bar, which now describes the image as read rather than as imported."""
        warnings = load_warnings(item, image)
        self.browser.model.set_warnings(item.id, warnings)
        if self.current_item is not None and self.current_item.id == item.id:
            self._status_for(item, image, warnings)

    def _load_failed(self, item: Item, reason: str) -> None:
        self.slice_view.show_message(f"Cannot show {item.name}\n\n{reason}")
        self.imageShown.emit(item.id)

    def _status_for(
        self, item: Item, image: Image | None = None, warnings: list[str] | None = None
    ) -> None:
        if warnings is None:
            warnings = self.browser.model.warnings(item)
        self.statusBar().showMessage(status_text(item, image, warnings))

    def _remember_window(self, width: float, level: float) -> None:
        """Per item, for this project's session (set_project forgets them)."""
        if self.current_item is not None and self.slice_view.image is not None:
            self._item_windows[self.current_item.id] = (width, level)

    # ------------------------------------------------------------------ labelling
    # (keys, undo, write failures, other writers: medview/ui/window_labels.py)
    def edit_label_set(self) -> None:
        if self.project is None:
            return
        editor = LabelSetEditor(self.project, self)
        editor.changed.connect(self.label_set_changed)
        editor.exec()

    def label_set_changed(self) -> None:
        # Undo entries name classes that may no longer exist: start a fresh history.
        self.undo_stack.clear()
        self.refresh_classes()

    def refresh_classes(self) -> None:
        """Follow the project's label set (after an edit, or classes added by an import)."""
        assert self.project is not None
        self.label_bar.set_classes(self.project.classes())
        self.browser.model.refresh_classes()
        self.browser.rebuild_quick_filters()
        self.browser.update_counts()
        if self.current_item is not None:
            self.current_item = self.project.get_item(self.current_item.id)
            self.browser.select_item(self.current_item.id)
            self.label_bar.show_label(self.current_item.label, self.project.label_counts())

    def set_group_selected(self, group: str | None = None) -> None:
        ids = self.browser.selected_ids() if self.project else []
        if not ids:
            return
        if group is None:
            current = self.project.get_item(ids[0]).group or ""  # type: ignore[union-attr]
            group, ok = QInputDialog.getText(
                self,
                "Group / patient",
                f"Group or patient id for {len(ids)} item(s)\n"
                "(items of one group stay in the same fold):",
                text=current,
            )
            if not ok:
                return
        if self._write_other("Group", lambda: self.project.set_group(ids, group)):  # type: ignore[union-attr]
            self.browser.model.refresh_items(ids)

    def set_split_selected(self, split: str | None) -> None:
        ids = self.browser.selected_ids() if self.project else []
        if ids and self._write_other("Split", lambda: self.project.set_split(ids, split)):  # type: ignore[union-attr]
            self.browser.model.refresh_items(ids)

    def refresh_predictions(self) -> None:
        """Call when a run has written predictions (the training dock does)."""
        self.browser.model.refresh_predictions()

    # ------------------------------------------------------------------ importing
    def _show_damaged_rows(self, project: Project) -> None:
        """Rows of project.db that could not be read were skipped (the rest works): name
        them, so the user knows why an item is not listed."""
        damaged = project.damaged_rows()
        if not damaged:
            return
        shown = "; ".join(damaged[:3]) + (
            f"; and {len(damaged) - 3} more" if len(damaged) > 3 else ""
        )
        self.error_bar.show_message(
            "warning",
            f"<b>{len(damaged)} damaged row(s) of project.db skipped:</b> {html.escape(shown)}",
            [("Close", self.error_bar.clear)],
        )

    # ------------------------------------------------------------------ misc
    def error(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.writer.pending and not self.writer.flush():
            count = len(self.writer.unsaved())
            answer = QMessageBox.question(
                self,
                "Labels not saved",
                f"{count} label change(s) could not be saved:\n{self.writer.last_error}\n\n"
                "Close anyway and lose them?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.training_panel.shutdown()
        self.close_project()
        self.loader.wait(3000)
        super().closeEvent(event)
