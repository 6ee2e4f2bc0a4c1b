"""The mouse wheel scrolls a form, not the field under the pointer: a spin box or combo box
takes the wheel only once it has focus (clicked or tabbed to). Scrolling the Training dock
changed "Epochs" and "Batch size" on the way down (issue 26)."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QComboBox, QWidget


class WheelGuard(QObject):
    """An event filter: a wheel over an unfocused field scrolls the area around it."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget):
            return False
        if watched.hasFocus():
            return False
        parent = watched.parentWidget()
        while parent is not None and not isinstance(parent, QAbstractScrollArea):
            parent = parent.parentWidget()
        if parent is not None:
            QCoreApplication.sendEvent(parent.verticalScrollBar(), event)
        return True  # the field's value stays


def guard_wheel(root: QWidget) -> WheelGuard:
    """Guard every spin box and combo box under ``root`` (they exist when this is called)."""
    guard = WheelGuard(root)
    for widget in root.findChildren(QAbstractSpinBox) + root.findChildren(QComboBox):
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel does not give focus
        widget.installEventFilter(guard)
    return guard
