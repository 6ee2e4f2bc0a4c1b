"""The training panel's "Run on": this computer (the default), worker processes here, or a
Dask scheduler's address (docs/cluster.md). Remembered per project and per user (QSettings).
The text is `medview train --on`'s value; a bad one is said under the box and stops Train.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from medview.core.errors import MedviewError
from medview.ui.settings import Settings
from training.recipe.cluster_address import parse_target

CHOICES = (
    ("This computer", "local"),
    ("This computer, 2 worker processes", "local-cluster:2"),
    ("Dask scheduler through an SSH tunnel", "tcp://127.0.0.1:8786"),
)


class RunOnBox(QWidget):
    """An editable choice whose text is an ``--on`` value."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.folder: str | None = None
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.box = QComboBox()
        self.box.setEditable(True)
        for label, value in CHOICES:
            self.box.addItem(value)
            self.box.setItemData(self.box.count() - 1, label)  # tooltip-ish: the plain words
        self.box.setToolTip(
            "Where the folds train: local, local-cluster:N, tcp://127.0.0.1:PORT (a tunnel "
            "to a lab server) or tls://HOST:PORT (docs/cluster.md)"
        )
        self.box.currentTextChanged.connect(self._store)
        row.addWidget(QLabel("Run on"))
        row.addWidget(self.box, 1)

    def set_project(self, folder: str | Path | None) -> None:
        """Show what this project last ran on (this computer at first)."""
        self.folder = str(folder) if folder is not None else None
        stored = self.settings.value(self._key(), "local") if self.folder else "local"
        self.box.blockSignals(True)
        self.box.setCurrentText(str(stored or "local"))
        self.box.blockSignals(False)

    def value(self) -> str:
        return self.box.currentText().strip() or "local"

    def problem(self) -> str | None:
        """Why the text cannot be used (None when it can)."""
        try:
            parse_target(self.value())
        except MedviewError as exc:
            return str(exc)
        return None

    def _key(self) -> str:
        return f"runOn/{self.folder}"

    def _store(self, _text: str) -> None:
        if self.folder is not None:
            self.settings.set_value(self._key(), self.value())
