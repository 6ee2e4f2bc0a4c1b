"""The main window's labelling: writes that count only once committed, the error bar, undo
that refuses to overwrite someone else's label, changes made by other processes, read-only
projects. A mixin of :class:`medview.ui.main_window.MainWindow` (which owns the widgets used
here: ``browser``, ``label_bar``, ``error_bar``, ``readonly_banner``, ``writer``)."""

from __future__ import annotations

import contextlib
import html
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QMainWindow, QStackedWidget, QWidget

from medview.core.errors import MedviewError
from medview.core.project import Item, Project
from medview.ui.browser import BrowserWidget
from medview.ui.label_bar import LabelBar
from medview.ui.label_writes import LabelWriter, describe_write_error
from medview.ui.message_bar import MessageBar
from medview.ui.project_watch import ProjectWatcher

if TYPE_CHECKING:
    from medview.ui.training_panel import TrainingPanel


class WindowLabelling(QMainWindow):
    """The labelling half of the main window (its widgets are made by MainWindow._build)."""

    project: Project | None
    current_item: Item | None
    undo_stack: QUndoStack
    writer: LabelWriter
    browser: BrowserWidget
    label_bar: LabelBar
    error_bar: MessageBar
    readonly_banner: MessageBar
    stack: QStackedWidget
    workspace: QWidget
    training_panel: TrainingPanel  # made by MainWindow.__init__ (training_dock.install)
    _run_signature: list[tuple[str, str]]
    _item_tokens: dict[int, tuple[object, ...]]
    _item_census: tuple[int, int]
    _label_row: int
    watcher: ProjectWatcher
    labelsChanged: Any  # the Signal is declared on MainWindow

    def label_selected(self, name: str | None) -> None:
        """Label the selected items (keys 1–9, the class buttons); then maybe advance.

        The label counts as given only once committed: a write that fails (a lock held by
        another program, a full disk, a deleted project folder) shows the error bar, marks
        the items *not saved*, adds no undo entry and is retried (see LabelWriter)."""
        if self.project is None or self.stack.currentWidget() is not self.workspace:
            return
        ids = self.browser.selected_ids()
        if not ids:
            return
        if self.refused_read_only("labels cannot be changed here"):
            return
        advance_to = None
        if name is not None and self.label_bar.advance:
            skip = set(ids) | set(self.writer.unsaved())
            advance_to = self.browser.next_unlabelled(self.browser.current_id(), skip)
        self.writer.write(dict.fromkeys(ids, name))
        self._show_unsaved()
        if advance_to is not None:
            self.browser.select_item(advance_to)
        elif name is not None and self.label_bar.advance:
            self.statusBar().showMessage("Every item shown has a label.", 5000)

    def _labels_changed(self, ids: list[int]) -> None:
        if self.project is None:
            return
        self.browser.model.refresh_items(ids)
        self.browser.update_counts()
        if self.current_item is not None and self.current_item.id in ids:
            self.current_item = self.project.get_item(self.current_item.id)
        if self.current_item is not None:
            self.label_bar.show_label(self.current_item.label, self.project.label_counts())
        self._show_unsaved()
        self.labelsChanged.emit(ids)

    # ------------------------------------------------------------------ write failures
    def _show_unsaved(self) -> None:
        self.browser.model.set_unsaved(self.writer.unsaved(), self.writer.last_error)
        self._show_unsaved_mark()

    def _show_unsaved_mark(self) -> None:
        unsaved = self.writer.unsaved()
        current = self.current_item.id if self.current_item is not None else None
        self.label_bar.show_unsaved(
            unsaved.get(current) if current is not None else None,
            current in unsaved,
            self.writer.last_error,
        )

    def _write_failed(self, reason: str) -> None:
        count = len(self.writer.unsaved())
        self.error_bar.show_message(
            "error",
            f"<b>Label not saved:</b> {html.escape(reason)}.<br>"
            f"{count} item(s) marked <i>not saved</i>; medview tries again every few seconds.",
            [("Retry now", self._retry_writes), ("Discard", self._discard_writes)],
        )
        self._show_unsaved()

    def _writes_saved(self, count: int) -> None:
        if self.error_bar.kind == "error":
            self.error_bar.clear()
        self.statusBar().showMessage(f"Saved the {count} label change(s) that were waiting.", 8000)
        self._show_unsaved()

    def _retry_writes(self) -> None:
        self.writer.flush()
        self._show_unsaved()

    def _discard_writes(self) -> None:
        ids = self.writer.discard()
        self.error_bar.clear()
        self._show_unsaved()
        self.statusBar().showMessage(f"Discarded {len(ids)} unsaved label change(s).", 8000)

    def _undo_refused(self, reason: str) -> None:
        self.error_bar.show_message(
            "warning", html.escape(reason), [("Close", self.error_bar.clear)]
        )

    def undo(self) -> None:
        """Undo the last label change and go back to the item it touched; refused (with a
        message) when someone else changed those labels since."""
        command = self.writer.undo()
        if command is not None and command.previous:
            first = next(iter(command.previous))
            if self.browser.current_id() not in command.previous:
                self.browser.select_item(first)

    def redo(self) -> None:
        self.writer.redo()

    # ------------------------------------------------------------------ other writers
    def changed_elsewhere(self) -> None:
        """Another process wrote to the project: show labels, items and runs as they are.

        Only rows that changed are re-read (re-reading all 5,000 items of a large project
        took 0.5-0.8 s of the GUI thread): label changes are found in the label history
        after the last row seen, added or removed items by the items' count and largest id,
        and anything else (a split, a group, a re-link) by comparing the items' raw columns.
        """
        project = self.project
        if project is None:
            return
        try:
            census = project.item_census()
            self._label_row, label_ids = project.label_changes_since(self._label_row)
            signature = self._runs_signature()
            runs_changed = signature != self._run_signature
            self._run_signature = signature
            if project.classes() != self.label_bar.classes():
                self.refresh_classes()  # reloads every row too
            elif census != self._item_census:  # items added or removed
                current = self.browser.current_id()
                self.browser.model.reload()
                if current is not None and not self.browser.select_item(current):
                    self.browser.select_first()
            elif label_ids:
                self.browser.model.refresh_items(label_ids)
            elif not runs_changed:  # a change of another kind: find the rows it touched
                tokens = project.item_change_tokens()
                changed = [i for i, t in tokens.items() if self._item_tokens.get(i) != t]
                self._item_tokens = tokens
                if changed:
                    self.browser.model.refresh_items(changed)
            self._item_census = census
            if runs_changed:  # a run started, ended or wrote predictions
                self.browser.model.refresh_predictions()
                self.training_panel.history.refresh()
            self.browser.update_counts()
            if self.current_item is not None:
                self.current_item = project.get_item(self.current_item.id)
                self.label_bar.show_label(self.current_item.label, project.label_counts())
        except MedviewError as exc:
            self.statusBar().showMessage(f"Cannot read the project's changes: {exc}", 10000)
            return
        self._show_unsaved()
        self.labelsChanged.emit([])

    def _start_watching(self, project: Project | None) -> None:
        """Take the project's state as the window shows it now, then poll for changes."""
        self._item_tokens, self._item_census, self._label_row = {}, (0, 0), 0
        self._run_signature = []
        if project is not None:
            with contextlib.suppress(MedviewError):
                self._item_tokens = project.item_change_tokens()
                self._item_census = project.item_census()
                self._label_row = project.label_changes_since(None)[0]
            self._run_signature = self._runs_signature()
        self.watcher.set_project(project)

    def _runs_signature(self) -> list[tuple[str, str]]:
        if self.project is None:
            return []
        try:
            runs = [(run.id, run.status) for run in self.project.runs()]
            return [*runs, ("predictions", str(self.project.prediction_count()))]
        except MedviewError:
            return []

    # ------------------------------------------------------------------ read-only projects
    def _show_read_only_banner(self, project: Project) -> None:
        reason = project.read_only_reason or "you cannot write to its folder"
        self.readonly_banner.show_message(
            "info",
            f"<b>Read-only project</b> — {html.escape(reason)}. You can browse and view "
            "everything; labelling, training and imports are off. To label, copy the "
            "project folder somewhere you can write and open the copy."
            + (
                " Changes others make while it is open are not followed."
                if project.read_only_mode == "immutable"
                else ""
            ),
        )

    def refused_read_only(self, what: str) -> bool:
        """True (after saying so in the bar) when the open project is read-only."""
        if self.project is None or not self.project.read_only:
            return False
        self.error_bar.show_message(
            "warning",
            f"<b>This project is read-only:</b> {html.escape(what)}.",
            [("Close", self.error_bar.clear)],
        )
        return True

    def _apply_read_only(self, read_only: bool) -> None:
        self.label_bar.setEnabled(not read_only and self.project is not None)
        self.label_bar.title.setText(
            "<b>Label</b> <i>(read-only project)</i>" if read_only else "<b>Label</b>"
        )
        self.label_bar.setToolTip(
            "This project is read-only: labels cannot be changed" if read_only else ""
        )
        self.training_panel.setEnabled(not read_only)

    def _write_other(self, what: str, write: Any) -> bool:
        """Group and split changes: a failure is shown in the error bar, never swallowed."""
        try:
            write()
        except MedviewError as exc:
            self.error_bar.show_message(
                "error",
                f"<b>{what} not saved:</b> " + html.escape(describe_write_error(str(exc))),
                [("Close", self.error_bar.clear)],
            )
            return False
        return True
