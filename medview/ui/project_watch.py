"""Notice changes other processes make to the open project (the command line, a training run,
a colleague's window on a shared folder).

SQLite's ``PRAGMA data_version`` changes whenever another connection commits; asking for it
costs microseconds and reads nothing, so the window polls it on a timer instead of
re-reading the project. Writes made through the window's own connection do not change it
(the window already knows about those).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from medview.core.errors import MedviewError
from medview.core.project import Project

POLL_MS = 1000


class ProjectWatcher(QObject):
    changed = Signal()  # another process committed something to the project

    def __init__(self, parent: QObject | None = None, interval_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self._version: int | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)

    def set_project(self, project: Project | None) -> None:
        self.project = project
        self._version = None
        self.timer.stop()
        if project is not None:
            self._version = self._read()
            self.timer.start()

    def _read(self) -> int | None:
        if self.project is None:
            return None
        try:
            return self.project.data_version()
        except (MedviewError, OSError, ValueError):
            return None
        except Exception:  # sqlite3 errors on a folder that vanished: try again next tick
            return None

    def poll(self) -> bool:
        """Check now; True (and ``changed`` emitted) when another process wrote."""
        version = self._read()
        if version is None:  # busy (another thread of ours is writing) or unreadable
            return False
        if self._version is None:
            self._version = version
            return False
        if version == self._version:
            return False
        self._version = version
        self.changed.emit()
        return True
