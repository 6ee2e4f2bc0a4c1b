"""A training worker that segfaults, is killed by the OOM killer, or raises MemoryError:
the job ends with one failed message that says what happened, the run is recorded as failed,
and (for the window) the panel is ready for the next run."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_crash import _training_project

from medview.core import messages as msg
from medview.core.project import Project
from medview.jobs.runner import TrainingJob

pytest.importorskip("torch")

CONFIG = {
    "model": "cnn3d_small",
    "size": 16,
    "folds": 2,
    "epochs": 50,
    "batch_size": 4,
    "augment": "none",
    "threads": 1,
    "device": "cpu",
    "predict_unlabelled": False,
}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("rb_workers:segfault_worker", "SIGSEGV"),
        ("rb_workers:oom_killed_worker", "out of memory"),
        ("rb_workers:memory_error_worker", "ran out of memory"),
    ],
)
def test_a_failing_worker_ends_with_a_clear_message(
    tmp_path: Path, target: str, expected: str
) -> None:
    folder = _training_project(tmp_path)
    job = TrainingJob({**CONFIG, "project": str(folder)}, target, cancel_timeout=10)
    job.start()
    messages = job.wait(timeout=120)
    terminal = [m for m in messages if m.terminal]
    assert len(terminal) == 1 and isinstance(terminal[0], msg.Failed)
    assert expected in terminal[0].error, terminal[0].error
    assert job.run_id
    with Project.open(folder) as p:
        run = p.get_run(job.run_id)
        assert run.status == "failed" and expected in (run.message or ""), run
        assert p.integrity_check() == "ok"
