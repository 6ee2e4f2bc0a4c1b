"""Label conflicts and near-duplicates in the browser: two quick filters and what to do.

Quick filters: "Label conflicts" (identical content, different labels) and "Near duplicates"
(perceptual hashes a few bits apart), members of one group shown next to each other.

Actions on the selected item's group (browser context menu, Duplicates):
- Keep this one: the other members are removed from the project (files are not touched).
- Label all as this one: every member gets the selected item's label (undoable).
- Exclude from training: every member's label is cleared (undoable); unlabelled items are
  not trained on.
- Same group: every member gets one split group, so group-aware folds keep them together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMenu, QMessageBox

from medview.io.near_duplicates import label_conflicts, near_duplicate_groups

if TYPE_CHECKING:
    from medview.ui.main_window import MainWindow


class DuplicateActions(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        browser = window.browser
        browser.add_id_filter("conflicts", "Label conflicts", self.conflict_ids)
        browser.add_id_filter("near", "Near duplicates", self.near_ids)

    # ------------------------------------------------------------------ groups
    def conflict_groups(self) -> list[list[int]]:
        project = self.window.project
        if project is None:
            return []
        return [sorted(it.id for it in group) for group in label_conflicts(project)]

    def near_groups(self) -> list[list[int]]:
        project = self.window.project
        return near_duplicate_groups(project) if project is not None else []

    def conflict_ids(self) -> tuple[list[int], bool]:
        return [i for g in self.conflict_groups() for i in g], True

    def near_ids(self) -> tuple[list[int], bool]:
        return [i for g in self.near_groups() for i in g], True

    def group_of(self, item_id: int | None) -> list[int]:
        """The label-conflict group of ``item_id``, else its near-duplicate group, else []."""
        if item_id is None:
            return []
        for groups in (self.conflict_groups(), self.near_groups()):
            for group in groups:
                if item_id in group:
                    return group
        return []

    # ------------------------------------------------------------------ actions
    def _done(self, text: str) -> None:
        self.window.browser.refresh_id_filter()
        self.window.statusBar().showMessage(text, 8000)

    def keep_one(self, item_id: int | None = None) -> list[int]:
        """Remove the other members of the item's group from the project; returns them."""
        project = self.window.project
        item_id = item_id if item_id is not None else self.window.browser.current_id()
        others = [i for i in self.group_of(item_id) if i != item_id]
        if project is None or not others:
            return []
        answer = QMessageBox.question(
            self.window,
            "Keep one",
            f"Remove {len(others)} other copy/copies from the project? "
            "(The files stay where they are.)",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return []
        project.remove_items(others)
        self.window.browser.model.reload()
        self.window.browser.update_counts()
        self.window.labelsChanged.emit(others)
        self._done(f"Kept 1 item, removed {len(others)} copy/copies from the project.")
        return others

    def _label_group(self, ids: list[int], name: str | None) -> None:
        # The window's label writer: committed-or-retried writes with undo (label_writes).
        if self.window.project is None or not ids:
            return
        self.window.writer.write(dict.fromkeys(ids, name))

    def label_all(self, item_id: int | None = None) -> list[int]:
        project = self.window.project
        item_id = item_id if item_id is not None else self.window.browser.current_id()
        group = self.group_of(item_id)
        if project is None or item_id is None or not group:
            return []
        label = project.get_item(item_id).label
        self._label_group(group, label)
        self._done(f"{len(group)} copies labelled {label or '(none)'}.")
        return group

    def exclude(self, item_id: int | None = None) -> list[int]:
        item_id = item_id if item_id is not None else self.window.browser.current_id()
        group = self.group_of(item_id)
        self._label_group(group, None)
        if group:
            self._done(f"{len(group)} copies unlabelled: left out of training.")
        return group

    def same_group(self, item_id: int | None = None) -> list[int]:
        project = self.window.project
        item_id = item_id if item_id is not None else self.window.browser.current_id()
        group = self.group_of(item_id)
        if project is None or not group:
            return []
        items = project.items(ids=group)
        name = next((it.group for it in items if it.group), None) or f"duplicates-{min(group)}"
        project.set_group(group, name)
        self.window.browser.model.refresh_items(group)
        self._done(f"{len(group)} copies put in group {name!r}: they share a fold.")
        return group

    def add_menu(self, menu: QMenu) -> None:
        """The Duplicates submenu of the browser's context menu (when the item has copies)."""
        group = self.group_of(self.window.browser.current_id())
        sub = menu.addMenu(f"Duplicates ({len(group)} in group)" if group else "Duplicates")
        sub.setEnabled(bool(group))
        for text, slot in (
            ("Keep this one (remove the other copies)", self.keep_one),
            ("Label all as this one", self.label_all),
            ("Exclude all from training (clear labels)", self.exclude),
            ("Same group (keep in one fold)", self.same_group),
        ):
            sub.addAction(text).triggered.connect(lambda _=False, s=slot: s())


def install(window: MainWindow) -> DuplicateActions:
    """The window keeps what this returns as ``window.duplicate_actions``."""
    return DuplicateActions(window)
