"""The label bar: one button per class in its colour, keys 1–9, 0/Backspace to clear, undo.

The bar only asks for labels; :class:`medview.ui.label_writes.LabelWriter` writes them, and
an undo entry exists only for a committed write. A write that failed is shown here as
*not saved* until it is written or discarded.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShortcut, QUndoStack
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from medview.core.labels import LabelClass
from medview.ui import actions
from medview.ui.label_writes import LabelCommand  # noqa: F401 (re-exported)
from medview.ui.style import icon, text_color_on


class LabelBar(QWidget):
    """Class buttons. ``labelRequested(name or None)`` is emitted by a click or a key; the
    main window decides which items it applies to (see :meth:`MainWindow.label_selected`)."""

    labelRequested = Signal(object)
    advanceToggled = Signal(bool)
    undoRequested = Signal()
    redoRequested = Signal()

    def __init__(self, undo_stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = undo_stack
        self.buttons: dict[str, QPushButton] = {}
        self._classes: list[LabelClass] = []
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(6, 4, 6, 4)
        self._layout.setSpacing(6)
        self.title = QLabel("<b>Label</b>")
        self._layout.addWidget(self.title)
        # The current item's label that is waiting to be written (see show_unsaved).
        self.unsaved_label = QLabel()
        self.unsaved_label.setObjectName("unsavedLabel")
        self.unsaved_label.setStyleSheet(
            "#unsavedLabel { color: #ffffff; background: #c9302c; border-radius: 4px;"
            " padding: 2px 8px; font-weight: 600; }"
        )
        self.unsaved_label.hide()
        self._layout.addWidget(self.unsaved_label)
        self._button_area = QHBoxLayout()
        self._button_area.setSpacing(6)
        self._layout.addLayout(self._button_area)
        self.clear_button = QPushButton("0  Clear")
        self.clear_button.setToolTip("Remove the label of the selected item(s) (0 or Backspace)")
        self.clear_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.clear_button.clicked.connect(lambda: self.labelRequested.emit(None))
        self._layout.addWidget(self.clear_button)
        self._layout.addSpacing(12)
        self.undo_button = self._tool_button("undo", "Undo the last label (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undoRequested)
        self.redo_button = self._tool_button("redo", "Redo (Ctrl+Shift+Z)")
        self.redo_button.clicked.connect(self.redoRequested)
        undo_stack.canUndoChanged.connect(self.undo_button.setEnabled)
        undo_stack.canRedoChanged.connect(self.redo_button.setEnabled)
        self.undo_button.setEnabled(False)
        self.redo_button.setEnabled(False)
        self._layout.addStretch(1)
        self.advance_box = QCheckBox("Advance to next unlabelled")
        self.advance_box.setToolTip("After a key press, select the next item without a label")
        self.advance_box.setChecked(True)
        self.advance_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.advance_box.toggled.connect(self.advanceToggled)
        self._layout.addWidget(self.advance_box)
        self._key_shortcuts: list[QShortcut] = []
        # Keys declared with the window's other actions (medview.ui.actions).
        self._clear_shortcuts = actions.bind(self, "label.clear", lambda: self._key(None))

    @property
    def advance(self) -> bool:
        return self.advance_box.isChecked()

    def _tool_button(self, name: str, tip: str) -> QToolButton:
        button = QToolButton(icon=icon(name), autoRaise=True)
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._layout.addWidget(button)
        return button

    def _add_shortcut(self, key: str, name: str | None) -> QShortcut:
        # Window-wide, but a text field with focus still gets its digits: QLineEdit claims
        # printable keys through ShortcutOverride before a shortcut fires. The key is the
        # class's own (LabelClass.shortcut), one of those the record "label.class" declares.
        return actions.bind_key(self, "label.class", key, lambda n=name: self._key(n))

    def _key(self, name: str | None) -> None:
        if self.isEnabled():
            self.labelRequested.emit(name)

    def classes(self) -> list[LabelClass]:
        return list(self._classes)

    def set_classes(self, classes: list[LabelClass]) -> None:
        """Rebuild the buttons (and keys 1..n) for the project's label set."""
        for button in self.buttons.values():
            self._button_area.removeWidget(button)
            button.deleteLater()
        for shortcut in self._key_shortcuts:
            shortcut.setEnabled(False)
            # Out of the window's children now: update_enabled must not enable it again.
            shortcut.setParent(None)
            shortcut.deleteLater()
        self.buttons.clear()
        self._key_shortcuts = []
        self._classes = list(classes)
        for cls in classes:
            button = QPushButton(f"{cls.shortcut}  {cls.name}")
            button.setCheckable(True)
            button.setToolTip(f"Label the selected item(s) {cls.name} (key {cls.shortcut})")
            button.setMinimumHeight(30)
            # Keyboard focus stays in the item list, so arrow keys keep moving through items.
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setStyleSheet(self._button_style(cls.color))
            button.clicked.connect(lambda _=False, n=cls.name: self.labelRequested.emit(n))
            self._button_area.addWidget(button)
            self.buttons[cls.name] = button
            self._key_shortcuts.append(self._add_shortcut(cls.shortcut, cls.name))

    @staticmethod
    def _button_style(color: str) -> str:
        fg = text_color_on(color)
        # Unchecked: a coloured outline; checked (the current item's label): filled.
        return (
            f"QPushButton {{ border: 2px solid {color}; border-radius: 5px; padding: 3px 12px;"
            f" font-weight: 600; }}"
            f"QPushButton:checked {{ background: {color}; color: {fg}; }}"
            f"QPushButton:hover {{ border-width: 3px; }}"
            f"QPushButton:disabled {{ border-color: palette(mid); }}"
        )

    def show_label(self, label: str | None, counts: dict[str | None, int] | None = None) -> None:
        """Mark the current item's class; show how many items each class has."""
        for cls in self._classes:
            button = self.buttons[cls.name]
            button.setChecked(cls.name == label)
            count = f"  ({counts.get(cls.name, 0)})" if counts is not None else ""
            button.setText(f"{cls.shortcut}  {cls.name}{count}")

    def show_unsaved(self, label: str | None, pending: bool, reason: str = "") -> None:
        """Mark that the current item's label ``label`` is not saved yet (or clear the mark)."""
        if not pending:
            self.unsaved_label.hide()
            return
        self.unsaved_label.setText(f"{label or 'no label'}: not saved")
        self.unsaved_label.setToolTip(reason or "waiting to be written to the project")
        self.unsaved_label.show()
