"""Edit the project's classes: add, rename, recolour, remove (asking first if in use).

Each change is written to the project at once, like labels; the dialog only shows the state.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from medview.core.errors import MedviewError
from medview.core.labels import MAX_CLASSES
from medview.core.project import Project


def swatch(color: str, size: int = 16) -> QIcon:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class LabelSetEditor(QDialog):
    """``changed`` is emitted after every committed change so the window can follow."""

    changed = Signal()

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.setWindowTitle("Label set")
        self.setMinimumWidth(380)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Classes (keys 1–9 in this order):"))
        self.list = QListWidget()
        self.list.itemDoubleClicked.connect(lambda _item: self.rename())
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        for text, slot in (
            ("Add…", self.add),
            ("Rename…", self.rename),
            ("Colour…", self.recolor),
            ("Remove", self.remove),
        ):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout.addLayout(buttons)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.refresh()

    def refresh(self) -> None:
        row = self.list.currentRow()
        self.list.clear()
        for cls in self.project.classes():
            usage = self.project.class_usage(cls.name)
            text = f"{cls.shortcut}   {cls.name}   ({usage} item{'s' if usage != 1 else ''})"
            item = QListWidgetItem(swatch(cls.color), text)
            item.setData(Qt.ItemDataRole.UserRole, cls.name)
            self.list.addItem(item)
        self.list.setCurrentRow(min(max(row, 0), self.list.count() - 1))

    def _selected(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _apply(self, action: Callable[[], object]) -> bool:
        try:
            action()
        except MedviewError as exc:
            QMessageBox.warning(self, "Label set", str(exc))
            return False
        self.refresh()
        self.changed.emit()
        return True

    def add(self) -> None:
        if len(self.project.classes()) >= MAX_CLASSES:
            QMessageBox.information(self, "Label set", f"At most {MAX_CLASSES} classes (keys 1–9).")
            return
        name, ok = QInputDialog.getText(self, "Add class", "Name of the new class:")
        if ok and name.strip():
            self._apply(lambda: self.project.add_class(name.strip()))

    def rename(self) -> None:
        old = self._selected()
        if old is None:
            return
        new, ok = QInputDialog.getText(self, "Rename class", f"New name for {old}:", text=old)
        if ok and new.strip() and new.strip() != old:
            self._apply(lambda: self.project.rename_class(old, new.strip()))

    def recolor(self) -> None:
        name = self._selected()
        if name is None:
            return
        current = next(c.color for c in self.project.classes() if c.name == name)
        color = QColorDialog.getColor(QColor(current), self, f"Colour of {name}")
        if color.isValid():
            self._apply(lambda: self.project.recolor_class(name, color.name()))

    def remove(self) -> None:
        name = self._selected()
        if name is None:
            return
        in_use = self.project.class_usage(name)
        if in_use:
            answer = QMessageBox.question(
                self,
                "Remove class",
                f"{in_use} item(s) are labelled {name}. Remove the class and clear their "
                "labels? (The change is kept in the label history.)",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._apply(lambda: self.project.remove_class(name, force=bool(in_use)))
