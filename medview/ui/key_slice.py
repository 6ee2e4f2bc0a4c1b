"""Marking a volume's key slice in the slice view: the button "Use this slice for training"
(key K) under the image stores the plane on screen (``Project.set_key_slice``) for
``medview train --slices key``; pressing it again on the key slice clears it. The button
shows whether the slice on screen is the key slice, a note says where the key slice is
otherwise (click it to go there), and the browser's "Key slice" column lists them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLayout, QPushButton, QToolButton

from medview.core.errors import MedviewError
from medview.core.key_slice_store import KeySlice
from medview.ui import actions

if TYPE_CHECKING:
    from medview.ui.main_window import MainWindow

PLANES = ("axial", "coronal", "sagittal")
MARK_TEXT = "☆ Use this slice for training (K)"
MARKED_TEXT = "★ Key slice for training (K to clear)"


class KeySliceControl(QObject):
    """The key-slice button and note under the slice view, wired to the window's project."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        view = window.slice_view
        self.button = QPushButton(MARK_TEXT)
        self.button.setCheckable(True)
        self.button.setToolTip(
            "Mark the slice on screen as this volume's key slice: "
            "'Train on: 2D model on slices, key slice' trains on it (K)"
        )
        self.button.clicked.connect(self.toggle)
        self.note = QToolButton(autoRaise=True)
        self.note.setToolTip("Go to the key slice")
        self.note.clicked.connect(self.go_to_key)
        bottom = _layout_holding(view.layout(), view.slider)
        if bottom is not None:
            bottom.addWidget(self.note)
            bottom.addWidget(self.button)
        (self.shortcut,) = actions.bind(window, "label.key_slice", self.toggle)  # K
        view.sliceChanged.connect(lambda _i: self.refresh())
        view.axisChanged.connect(lambda _a: self.refresh())
        window.imageShown.connect(lambda _id: self.refresh())
        self.refresh()

    # ------------------------------------------------------------------ state
    def _volume_id(self) -> int | None:
        """The item on screen when it is a volume of a writable project, else None."""
        w = self.window
        image, item = w.slice_view.image, w.current_item
        if w.project is None or item is None or image is None or image.kind != "3d":
            return None
        return None if w.project.read_only else item.id

    def key(self) -> KeySlice | None:
        item_id = self._volume_id()
        return self.window.project.key_slice(item_id) if item_id is not None else None  # type: ignore[union-attr]

    def refresh(self) -> None:
        item_id = self._volume_id()
        view = self.window.slice_view
        key = self.key() if item_id is not None else None
        on_screen = key is not None and key == KeySlice(view.axis, view.index)
        self.button.setEnabled(item_id is not None)
        self.button.setVisible(item_id is not None)
        self.button.setChecked(on_screen)
        self.button.setText(MARKED_TEXT if on_screen else MARK_TEXT)
        self.note.setVisible(key is not None and not on_screen)
        if key is not None:
            self.note.setText(f"key: {PLANES[key.axis]} {key.index + 1}")

    # ------------------------------------------------------------------ actions
    def toggle(self) -> None:
        item_id = self._volume_id()
        if item_id is None:
            return
        project, view = self.window.project, self.window.slice_view
        assert project is not None
        here = KeySlice(view.axis, view.index)
        try:
            if self.key() == here:
                project.clear_key_slice(item_id)
                text = "key slice cleared"
            else:
                project.set_key_slice(item_id, here.axis, here.index)
                text = f"key slice: {PLANES[here.axis]} {here.index + 1} (used by --slices key)"
        except MedviewError as exc:
            self.window.error("Key slice not saved", str(exc))
            return
        self.window.statusBar().showMessage(text, 4000)
        self.window.browser.model.refresh_items([item_id])
        self.refresh()

    def go_to_key(self) -> None:
        key = self.key()
        if key is None:
            return
        view = self.window.slice_view
        view.set_axis(key.axis)
        view.set_slice(key.index)
        self.refresh()


def _layout_holding(layout: QLayout | None, widget: object) -> QLayout | None:
    """The (nested) layout that holds ``widget``: the slice view's slider row."""
    if layout is None:
        return None
    for k in range(layout.count()):
        entry = layout.itemAt(k)
        if entry.widget() is widget:
            return layout
        child = entry.layout()
        found = _layout_holding(child, widget) if child is not None else None
        if found is not None:
            return found
    return None


def install(window: MainWindow) -> KeySliceControl:
    return KeySliceControl(window)
