"""A non-modal message strip above the image: what failed and why, or a standing notice.

Used for label writes that did not happen (``error``: the user keeps working, the bar stays
until the writes succeed or are discarded) and for the read-only banner (``info``). A modal
box would stop the labelling rhythm and, worse, could be dismissed without reading.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QStyle, QWidget

_STYLES = {
    # Colours readable on light and dark themes alike: a tinted fill and a strong left edge.
    "error": ("#fbe3e4", "#c9302c", "#5a1414", QStyle.StandardPixmap.SP_MessageBoxCritical),
    "warning": ("#fcf3dc", "#d39e00", "#4d3800", QStyle.StandardPixmap.SP_MessageBoxWarning),
    "info": ("#e3eefb", "#2f6fb5", "#12304f", QStyle.StandardPixmap.SP_MessageBoxInformation),
}


class MessageBar(QFrame):
    """An icon, a message (rich text, wrapped) and a few buttons; hidden until shown."""

    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.kind = "info"
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 8, 6)
        layout.setSpacing(8)
        self.icon_label = QLabel()
        self.icon_label.setFixedSize(20, 20)
        layout.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        self.text_label = QLabel()
        self.text_label.setWordWrap(True)
        self.text_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.text_label, 1)
        self._buttons_layout = QHBoxLayout()
        self._buttons_layout.setSpacing(6)
        layout.addLayout(self._buttons_layout)
        self.buttons: dict[str, QPushButton] = {}
        self.hide()

    @property
    def text(self) -> str:
        return self.text_label.text()

    def show_message(
        self,
        kind: str,
        text: str,
        actions: list[tuple[str, Callable[[], None]]] | None = None,
    ) -> None:
        """Show ``text``; ``actions`` are (button text, callback) pairs, shown right."""
        self.kind = kind
        fill, edge, ink, pixmap = _STYLES.get(kind, _STYLES["info"])
        self.setStyleSheet(
            f"#{self.objectName()} {{ background: {fill}; border: 1px solid {edge};"
            f" border-left: 5px solid {edge}; border-radius: 3px; }}"
            f"#{self.objectName()} QLabel {{ color: {ink}; background: transparent; }}"
            f"#{self.objectName()} QPushButton {{ color: {ink}; background: #ffffff;"
            f" border: 1px solid {edge}; border-radius: 3px; padding: 2px 10px; }}"
            f"#{self.objectName()} QPushButton:hover {{ background: {fill}; }}"
        )
        self.icon_label.setPixmap(self.style().standardIcon(pixmap).pixmap(20, 20))
        self.text_label.setText(text)
        for button in self.buttons.values():
            self._buttons_layout.removeWidget(button)
            button.deleteLater()
        self.buttons = {}
        for label, callback in actions or []:
            button = QPushButton(label)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrow keys stay in the item list
            button.clicked.connect(callback)
            self._buttons_layout.addWidget(button)
            self.buttons[label] = button
        self.show()

    def clear(self) -> None:
        self.text_label.clear()
        self.hide()
