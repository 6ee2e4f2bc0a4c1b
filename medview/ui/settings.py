"""Persistent preferences (QSettings): geometry, dock layout, recent projects, window/level.

Labels are never kept here: they live in the project database, committed at once.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 10


class Settings:
    """Typed access to the application's QSettings (injectable for tests)."""

    def __init__(self, store: QSettings | None = None) -> None:
        # An INI file on every platform (not the Windows registry): easy to inspect, to reset
        # and to redirect (tests call QSettings.setPath for IniFormat).
        self.store = store or QSettings(
            QSettings.Format.IniFormat, QSettings.Scope.UserScope, "medview", "medview"
        )

    # -- window
    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)

    def window_geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    # -- recent projects
    def recent_projects(self) -> list[str]:
        value = self.store.value("recent/projects", [])
        if isinstance(value, str):  # QSettings returns a bare string for a 1-element list
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent_project(self, path: str | Path) -> None:
        path = str(Path(path).absolute())
        recent = [p for p in self.recent_projects() if p != path]
        self.store.setValue("recent/projects", [path, *recent][:MAX_RECENT])

    def remove_recent_project(self, path: str) -> None:
        self.store.setValue("recent/projects", [p for p in self.recent_projects() if p != path])

    # -- window/level, remembered per modality (CT soft tissue stays CT soft tissue)
    def window_level(self, modality: str) -> tuple[float, float] | None:
        value = self.store.value(f"windowLevel/{modality}")
        try:
            width, level = (float(v) for v in value)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            return None
        return (width, level) if width > 0 else None

    def set_window_level(self, modality: str, width: float, level: float) -> None:
        self.store.setValue(f"windowLevel/{modality}", [float(width), float(level)])

    # -- misc preferences
    def value(self, key: str, default: object = None) -> object:
        return self.store.value(key, default)

    def set_value(self, key: str, value: object) -> None:
        self.store.setValue(key, value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.store.value(key, default)
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)
