"""Starting, watching and stopping the training process.

The worker runs in a ``spawn``-context process (never fork: torch, CUDA and Qt threads do not
survive a fork), reports through a queue of message dicts, and is cancelled cooperatively via
an Event it checks every batch; if it has not ended ``cancel_timeout`` seconds later it is
terminated (then killed). A worker that dies without a terminal message (segfault, CUDA OOM
killer, ``os._exit``) is detected by ``poll()``, which then yields a ``failed`` message and
marks the run failed in the project, so the window never waits forever.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import queue as queue_mod
import time
from collections.abc import Callable
from typing import Any

from medview.core import messages as msg

DEFAULT_TARGET = "training.worker:run"


def _entry(target: str, config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    module, _, name = target.partition(":")
    function: Callable[..., None] = getattr(importlib.import_module(module), name)
    function(config, queue, cancel_event)


def describe_exit(code: int | None) -> str:
    """An exit status in words: a negative one is the signal that ended the process, and the
    two a user meets have a likely cause worth saying (a window showing "exit code -9" helps
    nobody)."""
    if code is None or code >= 0:
        return f"exit code {code}"
    import signal

    try:
        name = signal.Signals(-code).name
    except ValueError:
        return f"killed by signal {-code}"
    hint = {
        "SIGKILL": "; the system may have run out of memory: try a smaller --batch-size or "
        "--size, or fewer items",
        "SIGSEGV": "; a crash in native code (a GPU driver or a decoder library)",
        "SIGBUS": "; a crash in native code, or a file changed while it was being read",
    }.get(name, "")
    return f"exit code {code}, killed by {name}{hint}"


class TrainingJob:
    """One training run in its own process. Call ``poll()`` regularly (the GUI: on a timer)."""

    def __init__(
        self, config: dict[str, Any], target: str = DEFAULT_TARGET, cancel_timeout: float = 30.0
    ) -> None:
        self.config = dict(config)
        self.cancel_timeout = cancel_timeout
        self.target = target
        self._ctx = mp.get_context("spawn")
        self._queue: Any = self._ctx.Queue()
        self._cancel = self._ctx.Event()
        self._process: Any = None
        self.run_id: str | None = None
        self.final: msg.Message | None = None
        self._cancel_requested_at: float | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("the job was already started")
        self._process = self._ctx.Process(
            target=_entry,
            args=(self.target, self.config, self._queue, self._cancel),
            name="medview-training",
            daemon=True,  # never outlive the window
        )
        self._process.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def done(self) -> bool:
        return self.final is not None

    def cancel(self) -> None:
        """Ask the worker to stop after its current batch (non-blocking)."""
        self._cancel.set()
        if self._cancel_requested_at is None:
            self._cancel_requested_at = time.monotonic()

    def terminate(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)

    def reap(self, timeout: float = 10.0) -> None:
        """Join the ended (or ending) worker process; blocking, so the GUI calls it off its
        thread. Never raises."""
        if self._process is not None:
            with contextlib.suppress(Exception):
                self._process.join(timeout)

    def abandon(self, error: str, run_id: str | None) -> msg.Failed:
        """End the job as failed from the driver's side (it lost contact with the worker:
        a message it could not read) and stop the process."""
        failed = msg.Failed(error, run_id)
        self.final = failed
        self.terminate()
        return failed

    # ------------------------------------------------------------------ messages
    def poll(self, cancel_timeout: float | None = None) -> list[msg.Message]:
        """Drain the queue; detect a dead worker; enforce the cancel timeout."""
        if cancel_timeout is None:
            cancel_timeout = self.cancel_timeout
        out: list[msg.Message] = []
        while True:
            try:
                data = self._queue.get_nowait()
            except queue_mod.Empty:
                break
            except (EOFError, OSError):
                break
            message = msg.from_dict(data)
            if isinstance(message, msg.Started):
                self.run_id = message.run_id
            if message.terminal:
                self.final = message
            out.append(message)
        if self.final is None and self._process is not None and not self._process.is_alive():
            # A dead worker's last messages are already in the pipe (its feeder thread flushed
            # them before exit), so a short wait suffices: this runs on the GUI thread.
            time.sleep(0.02)
            tail = self._drain_late()
            out += tail
            if self.final is None:
                code = self._process.exitcode
                if self._cancel.is_set():
                    self.final = msg.Cancelled(self.run_id)
                else:
                    self.final = msg.Failed(
                        f"the training process stopped unexpectedly ({describe_exit(code)})",
                        self.run_id,
                    )
                self._record_failure()
                out.append(self.final)
        if (
            self.final is None
            and self._cancel_requested_at is not None
            and time.monotonic() - self._cancel_requested_at > cancel_timeout
        ):
            self.terminate()
            self.final = msg.Cancelled(self.run_id)
            self._record_failure()
            out.append(self.final)
        return out

    def _drain_late(self) -> list[msg.Message]:
        out: list[msg.Message] = []
        while True:
            try:
                message = msg.from_dict(self._queue.get(timeout=0.03))
            except (queue_mod.Empty, EOFError, OSError):
                return out
            if message.terminal:
                self.final = message
            out.append(message)

    def _record_failure(self) -> None:
        """The worker could not record its own end: do it for it."""
        project_path = self.config.get("project")
        if not self.run_id or not project_path:
            return
        from medview.core.errors import MedviewError
        from medview.core.project import Project

        status = "cancelled" if isinstance(self.final, msg.Cancelled) else "failed"
        error = self.final.error if isinstance(self.final, msg.Failed) else ""
        reason = error or "cancelled; the process was stopped"
        try:
            with Project.open(project_path) as project:
                if project.get_run(self.run_id).status in ("running", "interrupted"):
                    project.finish_run(self.run_id, status, message=reason)
        except MedviewError:
            pass

    def wait(self, timeout: float | None = None, interval: float = 0.1) -> list[msg.Message]:
        """Poll until a terminal message (tests and scripts; the GUI uses a timer)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        out: list[msg.Message] = []
        while self.final is None:
            out += self.poll()
            if self.final is None:
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError("the training job did not finish in time")
                time.sleep(interval)
        if self._process is not None:
            self._process.join(10)
        return out
