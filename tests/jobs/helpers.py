"""Worker targets for the runner tests (resolved by name inside the spawned process)."""

from __future__ import annotations

import os
import time


def real_worker(config, queue, cancel_event) -> None:
    from mv_entry import worker_run

    worker_run(config, queue, cancel_event)


def crash(config, queue, cancel_event) -> None:
    queue.put({"type": "log", "text": "about to die", "level": "info"})
    time.sleep(0.3)
    os._exit(3)  # like a segfault or the OOM killer: no message, no cleanup


def stubborn(config, queue, cancel_event) -> None:
    queue.put({"type": "started", "run_id": "", "plan": {}})
    while True:  # ignores the cancel event: the runner must terminate it
        time.sleep(0.1)
