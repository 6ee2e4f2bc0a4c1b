"""Open the main window, wait until it is really on screen, close it: the GUI half of
``medview self-test`` (Qt stays inside medview/ui; the self-test runs this in a child)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from PySide6.QtCore import qInstallMessageHandler, qVersion

from medview.ui.app import create_app, create_window

# The offscreen platform warns once per shown window that it cannot pass size hints on; that
# is expected there and says nothing about the installation, so it is not printed.
_EXPECTED_QT_MESSAGES = ("does not support propagateSizeHints",)


def qt_version() -> str:
    return str(qVersion())


def show_and_close_window(project: str | None, timeout_s: float) -> str:
    """Returns a one-line description; raises TimeoutError when the window never shows."""
    qInstallMessageHandler(_quiet_qt_messages)
    app = create_app([sys.argv[0]])
    start = time.perf_counter()
    # With a project open, so the item browser and the slice view (pyqtgraph) render a real
    # image, not only the welcome screen.
    window = create_window(project)
    window.show()
    deadline = start + timeout_s
    while not _exposed(window):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the window was not shown within {timeout_s:.0f} s")
        app.processEvents()
        time.sleep(0.005)
    shown_ms = (time.perf_counter() - start) * 1000
    title = window.windowTitle()
    # Let queued work (thumbnails, first image) run briefly: a crash there is a failure too.
    settle = time.perf_counter() + 0.5
    while time.perf_counter() < settle:
        app.processEvents()
        time.sleep(0.01)
    window.close()
    app.processEvents()
    what = "with the test project" if project else "welcome screen"
    return (
        f"pid {os.getpid()}: platform {app.platformName()}, '{title}' ({what}) "
        f"shown in {shown_ms:.0f} ms, closed"
    )


def _quiet_qt_messages(mode: Any, context: Any, message: str) -> None:
    if not any(expected in message for expected in _EXPECTED_QT_MESSAGES):
        print(message, file=sys.stderr)


def _exposed(window: Any) -> bool:
    handle = window.windowHandle()
    return bool(window.isVisible() and handle is not None and handle.isExposed())
