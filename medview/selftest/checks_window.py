"""Self-test check of the GUI: the main window opened (offscreen without a display) in a
spawned child process. Qt is imported only inside that child, through medview.ui.window_check."""

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
        from medview.ui.window_check import show_and_close_window

        results.put((True, show_and_close_window(project, WINDOW_TIMEOUT_S)))
    except TimeoutError as exc:
        results.put((False, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent as FAIL
        if os.environ.get("MEDVIEW_DEBUG"):
            traceback.print_exc()
        results.put((False, f"{type(exc).__name__}: {_first_line(exc)}"))
