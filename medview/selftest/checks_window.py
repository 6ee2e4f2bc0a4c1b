"""Self-test check of the GUI: the main window opened (offscreen without a display) in a
spawned child process. Qt is imported only inside that child."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from medview.selftest.base import CheckFailed, Context, _first_line

WINDOW_TIMEOUT_S = 60.0


def check_window(ctx: Context) -> str:
    """Open the main window (offscreen when there is no display), wait until shown, close.

    In a spawned child process: when Qt cannot start its platform plugin (a missing xcb
    library, a stale DISPLAY over ssh) it aborts the whole process, and the self-test must
    still print its verdict. The spawn also exercises the bundle's multiprocessing once more.
    """
    import multiprocessing
    import queue as queue_mod

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        # No display server: Qt would abort ("could not connect to display"). The spawned
        # child inherits this environment.
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        project: Path | None = ctx.project()
    except CheckFailed:  # already reported by the training check: show the welcome screen
        project = None
    mp = multiprocessing.get_context("spawn")
    results = mp.Queue()
    child = mp.Process(
        target=_window_child,
        args=(str(project) if project else None, results),
        name="medview-selftest-window",
        daemon=True,
    )
    child.start()
    deadline = time.monotonic() + WINDOW_TIMEOUT_S
    try:
        while True:
            try:
                ok, detail = results.get(timeout=0.2)
                break
            except queue_mod.Empty:
                if not child.is_alive():
                    with contextlib.suppress(queue_mod.Empty):  # it may have just finished
                        ok, detail = results.get(timeout=1.0)
                        break
                    # A Qt abort: no result will ever come.
                    raise CheckFailed(
                        f"the window process died (exit code {child.exitcode}): "
                        "Qt could not start, see its message above"
                    ) from None
                if time.monotonic() > deadline:
                    raise CheckFailed(f"no window within {WINDOW_TIMEOUT_S:.0f} s") from None
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join(5)
    if not ok:
        raise CheckFailed(detail)
    return detail


def _window_child(project: str | None, results: Any) -> None:
    """Runs in the spawned process: report (ok, detail) on the queue, never raise."""
    try:
        from PySide6.QtCore import qInstallMessageHandler

        from medview.ui.app import create_app, create_window

        qInstallMessageHandler(_quiet_qt_messages)
        results.put((True, _show_and_close_window(project, create_app, create_window)))
    except CheckFailed as exc:
        results.put((False, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent as FAIL
        if os.environ.get("MEDVIEW_DEBUG"):
            traceback.print_exc()
        results.put((False, f"{type(exc).__name__}: {_first_line(exc)}"))


# The offscreen platform warns once per shown window that it cannot pass size hints on; that
# is expected there and says nothing about the bundle, so it is not printed.
_EXPECTED_QT_MESSAGES = ("does not support propagateSizeHints",)


def _quiet_qt_messages(mode: Any, context: Any, message: str) -> None:
    if not any(expected in message for expected in _EXPECTED_QT_MESSAGES):
        print(message, file=sys.stderr)


def _show_and_close_window(project: str | None, create_app: Any, create_window: Any) -> str:
    app = create_app([sys.argv[0]])
    start = time.perf_counter()
    # With the synthetic project open, so the item browser and the slice view (pyqtgraph)
    # render a real image, not only the welcome screen.
    window = create_window(project)
    window.show()
    deadline = start + WINDOW_TIMEOUT_S
    while not _exposed(window):
        if time.perf_counter() > deadline:
            raise CheckFailed(f"the window was not shown within {WINDOW_TIMEOUT_S:.0f} s")
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


def _exposed(window: Any) -> bool:
    handle = window.windowHandle()
    return bool(window.isVisible() and handle is not None and handle.isExposed())
