"""Run short jobs (loading an image, a thumbnail, an import) on a thread pool.

Results come back through Qt signals, which Qt queues onto the GUI thread because the
``TaskSignals`` object is created there; so no widget is ever touched from a worker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class TaskSignals(QObject):
    finished = Signal(object)  # the function's return value
    failed = Signal(object)  # the exception
    progress = Signal(int, int, str)  # done, total, message


class Task(QRunnable):
    """``fn(*args)`` on a pool thread; ``signals.finished``/``failed`` on the GUI thread."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        super().__init__()
        self.fn = fn
        self.args = args
        self.signals = TaskSignals()
        # Python keeps the task (and so its signals object) alive until the result has been
        # delivered on the GUI thread; a deleted sender would silently drop the queued call.
        self.setAutoDelete(False)

    def run(self) -> None:
        try:
            result = self.fn(*self.args)
        except Exception as exc:  # reported to the GUI, which decides what to show
            # RuntimeError: the receiver was deleted while we ran (window closed).
            with contextlib.suppress(RuntimeError):
                self.signals.failed.emit(exc)
            return
        with contextlib.suppress(RuntimeError):
            self.signals.finished.emit(result)


_running: set[Task] = set()


def keep_alive(task: Task) -> None:
    """Hold ``task`` until its result or error has been delivered."""
    _running.add(task)
    task.signals.finished.connect(lambda *_: _running.discard(task))
    task.signals.failed.connect(lambda *_: _running.discard(task))


def start(
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
    pool: QThreadPool | None = None,
) -> Task:
    """Start ``fn(*args)`` on ``pool`` (the global pool by default)."""
    task = Task(fn, *args)
    keep_alive(task)
    if on_done is not None:
        task.signals.finished.connect(on_done)
    if on_error is not None:
        task.signals.failed.connect(on_error)
    (pool or QThreadPool.globalInstance()).start(task)
    return task
