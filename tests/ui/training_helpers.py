"""A tiny synthetic project for the training-panel tests, and a worker that dies abruptly.

The worker targets here are resolved by name inside the spawned process (multiprocessing's
spawn copies sys.path, which the tests extend with this folder).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from medview.core.project import Project

SHAPE = (10, 20, 24)  # z, y, x: not a cube, so resampling back to the item is tested


def make_project(tmp: Path, n: int = 12, unlabelled: int = 3, seed: int = 0) -> Project:
    """``n`` labelled volumes (WT / MUT alternate; MUT has a bright block) + unlabelled ones."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    project = Project.create(tmp / "train.medview", ["WT", "MUT"])
    data = tmp / "vols"
    data.mkdir()
    for k in range(n + unlabelled):
        volume = rng.normal(0, 1, SHAPE).astype(np.float32)
        positive = k % 2 == 1
        if positive:
            volume[3:7, 6:14, 8:16] += 4.0
        path = data / f"v{k:02d}.nii.gz"
        nib.save(nib.Nifti1Image(np.transpose(volume, (2, 1, 0)), np.eye(4)), str(path))
        project.add_item(
            name=path.name,
            kind="3d",
            reader="nifti",
            paths=[path],
            shape=SHAPE,
            spacing=(1.0, 1.0, 1.0),
            content_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
            label=("MUT" if positive else "WT") if k < n else None,
        )
    return project


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
