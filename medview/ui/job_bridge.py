"""The GUI side of a spawned job: drain the runner's queue on a timer, re-emit Qt signals.

docs/DESIGN.md section 1: the engine runs in a ``spawn`` process (medview.jobs.runner) and reports
small message dicts. A QTimer on the GUI thread drains them every ``interval`` ms, so signals
are always delivered on the GUI thread and no widget is touched from elsewhere.

Two things in the runner can block for seconds (joining a process it terminates after a
cancel timeout), so the bridge never lets ``poll()`` do that on the GUI thread: it polls with
an infinite cancel timeout and, when its own timeout passes, terminates the worker on a pool
thread; the next poll then sees a dead process and reports ``cancelled``.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from medview.core import messages as msg
from medview.jobs.runner import DEFAULT_TARGET, TrainingJob
from medview.ui import workers


class JobBridge(QObject):
    """One job (a training run, a Grad-CAM map, a prediction) as Qt signals, in order."""

    started = Signal(str, object)  # run id, messages.RunPlan
    progress = Signal(str, int, int)  # stage, done, total (data loading)
    epoch = Signal(object)  # messages.Epoch
    foldDone = Signal(object)  # messages.FoldDone
    logged = Signal(str, str)  # text, level
    finished = Signal(object)  # messages.Finished
    failed = Signal(object)  # messages.Failed
    cancelled = Signal(object)  # messages.Cancelled
    ended = Signal(str)  # "finished" | "failed" | "cancelled": always last, exactly once
    message = Signal(object)  # every message, in order (a TrainingSession is driven by it)

    def __init__(
        self,
        config: dict[str, Any],
        target: str = DEFAULT_TARGET,
        parent: QObject | None = None,
        interval_ms: int = 100,
        cancel_timeout: float = 20.0,
    ) -> None:
        super().__init__(parent)
        self.job = TrainingJob(config, target=target, cancel_timeout=cancel_timeout)
        self.cancel_timeout = cancel_timeout
        self.status: str | None = None  # the terminal type once ended
        self.run_id: str | None = None
        self.plan = msg.RunPlan()
        self.started_at: float | None = None
        self._cancel_at: float | None = None
        self._terminating = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        self.started_at = time.monotonic()
        self.job.start()
        _lower_priority(self.job.pid)
        self._timer.start()

    @property
    def running(self) -> bool:
        return self.started_at is not None and self.status is None

    def cancel(self) -> None:
        """Cooperative stop (checked every batch); terminate after ``cancel_timeout``."""
        if not self.running:
            return
        self.job.cancel()
        if self._cancel_at is None:
            self._cancel_at = time.monotonic()

    def kill(self) -> None:
        """Stop at once (closing the window): no cooperative wait."""
        if self.running:
            self.job.cancel()
            self.job.terminate()
            self.poll()

    # ------------------------------------------------------------------ draining
    def poll(self) -> None:
        if self.status is not None:
            return
        try:
            # inf: the runner must not terminate (and join) on the GUI thread; see module doc.
            messages = self.job.poll(cancel_timeout=float("inf"))
        except Exception as exc:  # a corrupt message must not kill the window's timer loop
            messages = [self.job.abandon(f"lost contact with the worker: {exc}", self.run_id)]
        for message in messages:
            self._dispatch(message)
            if self.status is not None:
                break
        if (
            self.status is None
            and self._cancel_at is not None
            and not self._terminating
            and time.monotonic() - self._cancel_at > self.cancel_timeout
        ):
            self._terminating = True
            workers.start(self.job.terminate)

    def _dispatch(self, message: msg.Message) -> None:
        self.message.emit(message)
        if isinstance(message, msg.Started):
            self.run_id = message.run_id or None
            self.plan = message.plan
            self.started.emit(message.run_id, message.plan)
        elif isinstance(message, msg.Progress):
            self.progress.emit(message.stage, message.done, message.total)
        elif isinstance(message, msg.Epoch):
            self.epoch.emit(message)
        elif isinstance(message, msg.FoldDone):
            self.foldDone.emit(message)
        elif isinstance(message, msg.Log):
            self.logged.emit(message.text, message.level)
        elif message.terminal:
            self._end(message)

    def _end(self, message: msg.Message) -> None:
        self.status = message.type
        self._timer.stop()
        if isinstance(message, msg.Finished):
            self.finished.emit(message)
        elif isinstance(message, msg.Failed):
            self.failed.emit(message)
        else:
            self.cancelled.emit(message)
        self.ended.emit(message.type)
        # Reap the process off the GUI thread (it has ended or is about to).
        if self.job.pid is not None:
            workers.start(self.job.reap)


def _lower_priority(pid: int | None, niceness: int = 10) -> None:
    """Run the worker below the window's priority: on a busy machine (a laptop's few cores,
    all of them training) the scheduler then gives the GUI thread the CPU the moment it needs
    it, and the window does not stutter. The run loses almost nothing: the GUI sleeps most of
    the time. POSIX only; elsewhere the worker keeps the normal priority."""
    if pid is None or not hasattr(os, "setpriority"):
        return
    with contextlib.suppress(OSError):
        current = os.getpriority(os.PRIO_PROCESS, pid)
        os.setpriority(os.PRIO_PROCESS, pid, min(19, current + niceness))
