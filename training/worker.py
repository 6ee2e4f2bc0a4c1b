"""Entry point of the training process the GUI starts (``spawn`` context).

``run(config, queue, cancel_event)`` runs one training run and puts message dicts
(medview.jobs.messages) on ``queue``; exactly one terminal message (finished / failed /
cancelled) ends it, even when the failure happens before the run exists.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

from medview.core.errors import MedviewError
from medview.jobs import messages as msg


def run(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    def emit(message: msg.Message) -> None:
        queue.put(message.to_dict())

    try:
        # Imported inside: the first message can go out before torch finishes loading.
        from training.api import run_training
        from training.config import TrainConfig

        cfg = TrainConfig.from_dict(config)
        threads = cfg.threads or max(1, (os.cpu_count() or 2) - 1)  # leave a core to the GUI
        import torch

        torch.set_num_threads(threads)
        run_training(cfg, emit, cancel_event.is_set)
    except MedviewError as exc:
        emit(msg.Failed(str(exc)))
    except BaseException as exc:  # anything else still ends with a message, not silence
        emit(msg.Failed(f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()))
