"""Training-worker targets that fail the way real ones do, resolved by name in the spawned
process (spawn copies sys.path, which conftest extends with this folder)."""

from __future__ import annotations

import ctypes
import os
import signal
from typing import Any


class _FailAtFirstEpoch:
    """Passes messages through; at the first epoch message, fails as ``how`` says."""

    def __init__(self, queue: Any, how: str) -> None:
        self.queue = queue
        self.how = how

    def put(self, data: dict[str, Any]) -> None:
        if data.get("type") == "epoch":
            self.queue.close()
            self.queue.join_thread()  # what was sent (started, logs) reaches the window
            if self.how == "segfault":
                ctypes.string_at(0)  # a real SIGSEGV: a read of address 0
            os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does
        self.queue.put(data)


def segfault_worker(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    from training.worker import run

    run(config, _FailAtFirstEpoch(queue, "segfault"), cancel_event)


def oom_killed_worker(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    from training.worker import run

    run(config, _FailAtFirstEpoch(queue, "oom"), cancel_event)


def memory_error_worker(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """Python's own out-of-memory: an allocation in the engine raises MemoryError."""
    import training.run_data
    from training.worker import run

    def no_memory(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError()

    training.run_data.load_items = no_memory  # decoding every item is the big allocation
    run(config, queue, cancel_event)
