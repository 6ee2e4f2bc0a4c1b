"""Self-test check of training: one tiny run in the real spawned worker process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from medview.core.run_folder import METRICS
from medview.selftest.base import CheckFailed, Context

# Generous: in a frozen bundle the spawned worker must unpack-free import torch + MONAI from
# disk, which on a cold cache and a busy 2-core machine can take tens of seconds.
TRAINING_TIMEOUT_S = float(os.environ.get("MEDVIEW_SELFTEST_TRAINING_TIMEOUT", "300"))


def check_training(ctx: Context) -> str:
    """One tiny training run in the real spawned worker process, through medview.jobs."""
    project_path = ctx.project()
    config = {
        "project": str(project_path),
        "model": "cnn_small",
        "folds": 2,
        "epochs": 1,
        "batch_size": 4,
        "size": 32,
        "device": "auto",
        "augment": "none",
        "seed": 1,
    }
    return _run_worker(config, project_path)


def _run_worker(config: dict[str, Any], project_path: Path) -> str:
    from medview.jobs.runner import TrainingJob

    job = TrainingJob(config)
    job.start()
    try:
        messages = job.wait(timeout=TRAINING_TIMEOUT_S)
    except TimeoutError as exc:
        raise CheckFailed(
            f"the training worker (pid {job.pid}) did not finish in {TRAINING_TIMEOUT_S:.0f} s"
        ) from exc
    finally:
        job.terminate()  # a no-op when it has ended; never leave a worker behind
    final = job.final
    kinds = [m.type for m in messages]
    if final is None or final.type != "finished":
        reason = getattr(final, "error", None) or (final.type if final else "no final message")
        raise CheckFailed(f"the worker did not finish: {reason}")
    if "started" not in kinds or "epoch" not in kinds:
        raise CheckFailed(f"the worker sent no progress (messages: {', '.join(kinds)})")
    started = next(m for m in messages if m.type == "started")
    device = started.plan.device or "?"
    run_dir = Path(getattr(final, "run_dir", "") or project_path / "runs" / str(job.run_id))
    if not (run_dir / METRICS).is_file():
        raise CheckFailed(f"the run finished but wrote no {run_dir / METRICS}")
    epochs = kinds.count("epoch")
    return (
        f"worker pid {job.pid} (spawn) trained {config['model']} on {device}: "
        f"{epochs} epoch(s) over {config['folds']} folds, run {job.run_id} written"
    )
