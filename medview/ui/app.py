"""Start the GUI: ``run_gui(project_path)`` is what ``medview [PROJECT]`` and ``medview demo``
call. Qt is imported inside the functions so importing this module stays cheap."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from medview.ui.main_window import MainWindow


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication, styled (or the existing one, e.g. under pytest-qt)."""
    from PySide6.QtWidgets import QApplication

    from medview.ui.style import apply_style, prepare_high_dpi

    app = QApplication.instance()
    if app is None:
        prepare_high_dpi()
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setApplicationName("medview")
        app.setOrganizationName("medview")
        app.setApplicationDisplayName("medview")
        app.setDesktopFileName("medview")
    apply_style(app)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def create_window(project_path: str | None = None) -> MainWindow:
    """The main window, showing the project (or the welcome screen when None)."""
    from medview.ui.main_window import MainWindow

    window = MainWindow()
    if project_path:
        window.open_project(project_path)
    return window


def run_gui(project_path: str | None = None) -> int:
    """Open the window and run the event loop; returns the exit status."""
    app = create_app()
    window = create_window(project_path)
    window.show()
    return int(app.exec())
