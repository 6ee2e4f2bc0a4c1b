"""Worker targets for the training-panel tests (one that dies abruptly, one that ignores
cancel) and a fake finished run. The projects themselves come from tests/projects.py.

The worker targets here are resolved by name inside the spawned process (multiprocessing's
spawn copies sys.path, where pytest's ``pythonpath`` setting put this folder).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from medview.core.project import Project


class _DyingQueue:
    """Passes messages through; the first epoch message kills the process instead."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def put(self, data: dict[str, Any]) -> None:
        if data.get("type") == "epoch":
            self.queue.close()
            self.queue.join_thread()  # what was sent (started, logs) reaches the window
            os._exit(3)  # like a segfault or the OOM killer: no message, no cleanup
        self.queue.put(data)


def dying_worker(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    from training.worker import run

    run(config, _DyingQueue(queue), cancel_event)


def stubborn_worker(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """Reports a start, then ignores the cancel request: the bridge must terminate it."""
    import time

    queue.put({"type": "started", "run_id": "", "plan": {}})
    while True:
        time.sleep(0.1)


def failure_box(window: Any) -> Any:
    """The "Training failed" message box the window shows (the latest one)."""
    from PySide6.QtWidgets import QMessageBox

    boxes = [b for b in window.findChildren(QMessageBox) if b.windowTitle() == "Training failed"]
    assert boxes, "no 'Training failed' box is shown"
    return boxes[-1]


def write_fake_run(
    project: Project, run_id: str, auc: float, status: str = "finished", test: bool = False
) -> None:
    """A run row and a run folder with metrics.json and history.csv, as the engine writes them."""
    import json

    project.create_run(run_id, {"model": "cnn3d_small"}, model="cnn3d_small")
    grid = np.linspace(0, 1, 101)
    tpr = np.clip(grid ** (1 - auc + 0.01), 0, 1).tolist()
    folds = [
        {
            "fold": k,
            "n_val": 6,
            "accuracy": auc - 0.05 * k,
            "roc_auc": auc,
            "f1": 0.7,
            "best_epoch": 2,
            "confusion": [[3, 0], [1, 2]],
            "roc": {"fpr": grid.tolist(), "tpr": tpr},
        }
        for k in (1, 2)
    ]
    summary = {
        "accuracy": {"mean": auc - 0.075, "std": 0.035},
        "roc_auc": {"mean": auc, "std": 0.0},
        "f1": {"mean": 0.7, "std": 0.0},
    }
    metrics = {
        "task": "binary",
        "classes": ["WT", "MUT"],
        "model": "cnn3d_small",
        "folds": folds,
        "summary": summary,
        "pooled_confusion": [[6, 0], [2, 4]],
        "status": status,
        "roc_mean": {"fpr": grid.tolist(), "tpr_mean": tpr, "tpr_std": [0.0] * 101},
    }
    if test:
        roc = {"fpr": grid.tolist(), "tpr": tpr}
        metrics["test"] = {"n": 4, "accuracy": 0.75, "roc_auc": 0.8, "n_models": 2, "roc": roc}
    run_dir = project.runs_dir / run_id
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    rows = ["fold,epoch,train_loss,val_loss,val_auc,val_accuracy,lr,seconds"]
    rows += [f"{f},{e},{0.7 / e},{0.8 / e},{auc},0.5,0.001,0.1" for f in (1, 2) for e in (1, 2)]
    (run_dir / "history.csv").write_text("\n".join(rows) + "\n")
    db = {k: v for k, v in metrics.items() if k != "roc_mean"}
    db["folds"] = [{k: v for k, v in f.items() if k != "roc"} for f in folds]
    project.finish_run(run_id, status, db)
