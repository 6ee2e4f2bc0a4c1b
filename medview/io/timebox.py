"""Reads that give up when they make no progress: a hung network drive must not hang the
window (``timeboxed_read``)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from medview.core.errors import ReadError
from medview.core.image import Image


class _Abandoned(BaseException):
    """Raised in an abandoned reader at its next progress report, to stop it there. A
    BaseException so the readers' ``except Exception`` (one bad slice) does not swallow it."""


_stuck_lock = threading.Lock()
_stuck = 0  # reads given up on whose thread has not ended yet
MAX_STUCK_READS = 4


def read_time_limit() -> float:
    """Seconds a read of one item may go without progress (MEDVIEW_ITEM_READ_SECONDS,
    default 120; 0 or less: no limit)."""
    try:
        return float(os.environ.get("MEDVIEW_ITEM_READ_SECONDS", "120"))
    except ValueError:
        return 120.0


def timeboxed_read(
    path: str | Path,
    read: Callable[[Callable[[int, int], None] | None], Image],
    progress: Callable[[int, int], None] | None = None,
) -> Image:
    """``read(tick)`` on a daemon thread, given up with a ReadError when it makes no progress
    (``tick`` calls) for :func:`read_time_limit` seconds: a hung network drive must not hang
    the window, and a daemon thread never keeps the process from exiting.

    Python cannot kill a thread, so an abandoned reader is stopped at its next progress report
    (a series stops at its next slice), or runs until its current file read returns. At most
    MAX_STUCK_READS such readers may be pending; beyond that reads are refused at once rather
    than piling up threads on a dead drive."""
    limit = read_time_limit()
    if limit <= 0:
        return read(progress)
    with _stuck_lock:
        if _stuck >= MAX_STUCK_READS:
            raise ReadError(
                path,
                f"{_stuck} earlier reads are still stuck (a hung drive?): not starting another",
            )
    watched = _WatchedRead(read, progress, limit)
    threading.Thread(target=watched.run, name="medview-item-read", daemon=True).start()
    if watched.wait():
        raise ReadError(
            path,
            f"reading stopped: no progress for {limit:g} s (a hung network drive or a very "
            "slow disk?); set MEDVIEW_ITEM_READ_SECONDS to allow longer",
        )
    if watched.error is not None:
        raise watched.error
    assert watched.image is not None  # run() sets one of image and error
    return watched.image


class _WatchedRead:
    """One read on its thread, and the deadline its progress reports push back."""

    def __init__(
        self,
        read: Callable[[Callable[[int, int], None] | None], Image],
        progress: Callable[[int, int], None] | None,
        limit: float,
    ) -> None:
        self.read, self.progress, self.limit = read, progress, limit
        self.deadline = time.monotonic() + limit
        self.abandoned = False
        self.finished = threading.Event()
        self.image: Image | None = None
        self.error: BaseException | None = None

    def tick(self, done: int, total: int) -> None:
        if self.abandoned:
            raise _Abandoned()
        self.deadline = time.monotonic() + self.limit  # progress: slow perhaps, not stuck
        if self.progress is not None:
            self.progress(done, total)

    def run(self) -> None:
        global _stuck
        try:
            self.image = self.read(self.tick)
        except _Abandoned:
            pass
        except BaseException as exc:  # handed to the caller's thread
            self.error = exc
        finally:
            with _stuck_lock:
                self.finished.set()
                if self.abandoned:
                    _stuck -= 1

    def wait(self) -> bool:
        """Wait for the read; True when it was given up (no progress before the deadline)."""
        global _stuck
        while not self.finished.wait(max(0.0, self.deadline - time.monotonic())):
            with _stuck_lock:
                if self.finished.is_set():
                    break
                if time.monotonic() >= self.deadline:
                    self.abandoned = True
                    _stuck += 1
                    break
        return self.abandoned
