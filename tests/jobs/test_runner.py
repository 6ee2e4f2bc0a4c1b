"""The spawned training process: a real run to the end, cancel, terminate, a dying worker."""

from __future__ import annotations

import json

from projects import make_project

from medview.core import messages as msg
from medview.core.project import Project
from medview.jobs.runner import TrainingJob

TINY = {"model": "cnn3d_small", "size": 16, "batch_size": 4, "augment": "none", "threads": 1}


def test_worker_runs_to_finished(tmp_path):
    project = make_project(tmp_path, 16)
    folder = project.folder
    project.close()
    job = TrainingJob(
        {"project": str(folder), "folds": 2, "epochs": 2, **TINY}, "helpers:real_worker"
    )
    job.start()
    messages = job.wait(timeout=180)
    types = [m.type for m in messages]
    assert types[0] == "started" and types[-1] == "finished", messages[-1]
    assert "epoch" in types and types.count("fold_done") == 2
    assert job.run_id and isinstance(job.final, msg.Finished)
    with Project.open(folder) as p:
        assert p.get_run(job.run_id).status == "finished"


def test_cancel_is_cooperative(tmp_path):
    project = make_project(tmp_path, 16)
    folder = project.folder
    project.close()
    job = TrainingJob(
        {"project": str(folder), "folds": 2, "epochs": 500, **TINY}, "helpers:real_worker"
    )
    job.start()
    seen = []
    while not any(m.type == "epoch" for m in seen):
        seen += job.poll()
        assert not job.done, seen[-1]
        import time

        time.sleep(0.05)
    job.cancel()
    seen += job.wait(timeout=60)
    assert isinstance(job.final, msg.Cancelled)
    with Project.open(folder) as p:
        assert p.get_run(job.run_id).status == "cancelled"
    metrics = json.loads((folder / "runs" / job.run_id / "metrics.json").read_text())
    assert metrics["status"] == "cancelled"


def test_dead_worker_is_detected():
    job = TrainingJob({}, "helpers:crash")
    job.start()
    messages = job.wait(timeout=60)
    assert messages[0].type == "log"
    assert isinstance(job.final, msg.Failed) and "exit code 3" in job.final.error


def test_stubborn_worker_is_terminated_after_timeout():
    job = TrainingJob({}, "helpers:stubborn")
    job.start()
    while not job.poll(cancel_timeout=1.0):
        pass
    job.cancel()
    import time

    deadline = time.monotonic() + 30
    while not job.done and time.monotonic() < deadline:
        job.poll(cancel_timeout=1.0)
        time.sleep(0.1)
    assert isinstance(job.final, msg.Cancelled)
    assert not job.is_alive()


def test_bad_config_fails_with_a_message(tmp_path):
    job = TrainingJob({"project": str(tmp_path / "missing"), "folds": 2}, "helpers:real_worker")
    job.start()
    job.wait(timeout=120)
    assert isinstance(job.final, msg.Failed) and "not a medview project" in job.final.error
