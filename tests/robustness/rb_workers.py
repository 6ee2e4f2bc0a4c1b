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
    from training.jobs import train as run

    run(config, _FailAtFirstEpoch(queue, "segfault"), cancel_event)


def oom_killed_worker(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    from training.jobs import train as run

    run(config, _FailAtFirstEpoch(queue, "oom"), cancel_event)


def memory_error_worker(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """Python's own out-of-memory: an allocation in the engine raises MemoryError."""
    import training.engine.run_data
    from training.jobs import train as run

    def no_memory(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError()

    training.engine.run_data.load_items = no_memory  # decoding every item is the big allocation
    run(config, queue, cancel_event)


def stuck_one_shot_job(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """A one-shot job (like predict or export) busy in code with no cancel point."""
    import time

    from training.jobs import _run_job

    def body(emit: Any, should_cancel: Any) -> None:
        time.sleep(120)

    _run_job(queue, cancel_event, body, threads=1, one_shot=True)


def start_job_then_wait(target: str, pid_file: str) -> None:
    """The 'window' of tests/robustness/test_orphan_jobs.py: starts a job, says its pid, waits."""
    import time

    from medview.jobs.runner import TrainingJob

    job = TrainingJob({}, target=target)
    job.start()
    with open(pid_file, "w") as f:
        f.write(str(job.pid))
    time.sleep(300)
