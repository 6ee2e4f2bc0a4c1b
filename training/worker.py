"""Entry point of the training process the GUI starts (``spawn`` context).

``run(config, queue, cancel_event)`` runs one training run and puts message dicts
(medview.core.messages) on ``queue``; exactly one terminal message (finished / failed /
cancelled) ends it, even when the failure happens before the run exists.
"""

from __future__ import annotations

import os
from typing import Any

from medview.core import messages as msg
from medview.core.errors import MedviewError


class _ParentWatch:
    """Notices that the window that started this process died (killed, crashed): nobody can
    cancel the run or read its messages any more, so it must stop instead of training on as
    an orphan (on a GPU, for hours). ``multiprocessing.parent_process()`` is the spawn
    parent; checked from the training loop's cancel poll, at most once a second."""

    def __init__(self) -> None:
        import multiprocessing

        self.parent = multiprocessing.parent_process()
        self.gone = False
        self.last = 0.0

    def __call__(self) -> bool:
        import time

        if self.parent is None or self.gone:
            return self.gone
        now = time.monotonic()
        if now - self.last >= 1.0:
            self.last = now
            self.gone = not self.parent.is_alive()
        return self.gone


def run(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    watch = _ParentWatch()

    def emit(message: msg.Message) -> None:
        if not watch.gone:
            queue.put(message.to_dict())

    def should_cancel() -> bool:
        return watch() or cancel_event.is_set()

    with msg.final_message_guard(emit):
        # Imported inside: the first message can go out before torch finishes loading.
        from training.api import run_training
        from training.config import TrainConfig

        cfg = TrainConfig.from_dict(config)
        threads = cfg.threads or max(1, (os.cpu_count() or 2) - 1)  # leave a core to the GUI
        import torch

        torch.set_num_threads(threads)
        outcome = run_training(cfg, emit, should_cancel)
        if watch.gone:
            _orphaned(cfg.project, outcome.run_id, queue)


def _orphaned(project_path: str, run_id: str | None, queue: Any) -> None:
    """The run stopped because its window died: record that (not 'cancelled by the user')
    and do not wait, at exit, to flush messages nobody will read."""
    queue.cancel_join_thread()
    if not run_id:
        return
    from medview.core.project import Project

    try:
        with Project.open(project_path) as project:
            project.finish_run(
                run_id, "interrupted", message="the window that started it closed or crashed"
            )
    except MedviewError:
        pass
