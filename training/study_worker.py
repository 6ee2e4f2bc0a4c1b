"""Process entry points (medview.jobs.runner targets) for the window's "Compare models…" and
"Tune…": one background job runs the whole study, its runs one after another, and reports
through the same queue of messages as a training run. Exactly one terminal message (the
study's) ends it; each run's own end arrives as a log line (training.study.StudyEmitter).

config: {"project", "train": {TrainConfig settings}, "models": [...]} for a study;
tune adds {"budget", "minutes", "space"}; "resume": STUDY continues one.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

from medview.core import messages as msg
from medview.core.errors import MedviewError


def _job(config: dict[str, Any], queue: Any, cancel_event: Any, body: Any) -> None:
    from training.worker import _ParentWatch

    watch = _ParentWatch()

    def emit(message: msg.Message) -> None:
        if not watch.gone:
            queue.put(message.to_dict())

    def should_cancel() -> bool:
        return watch() or cancel_event.is_set()

    try:
        import torch

        from training.config import TrainConfig

        cfg = TrainConfig.from_dict({**config.get("train", {}), "project": config["project"]})
        torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 2) - 1))
        body(cfg, emit, should_cancel)
        if watch.gone:
            queue.cancel_join_thread()
    except MedviewError as exc:
        emit(msg.Failed(str(exc)))
    except BaseException as exc:  # anything else still ends with a message, not silence
        emit(msg.Failed(f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()))


def study_job(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    def body(cfg: Any, emit: Any, should_cancel: Any) -> None:
        from training.study import run_study

        run_study(
            cfg,
            config.get("models"),
            emit,
            should_cancel,
            study_id=config.get("study_id"),
            resume=config.get("resume"),
        )

    _job(config, queue, cancel_event, body)


def tune_job(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    def body(cfg: Any, emit: Any, should_cancel: Any) -> None:
        from training.tune import run_tune

        run_tune(
            cfg,
            config.get("models"),
            int(config.get("budget", 20)),
            config.get("minutes"),
            emit,
            should_cancel,
            space_name=config.get("space"),
            study_id=config.get("study_id"),
            resume=config.get("resume"),
        )

    _job(config, queue, cancel_event, body)
