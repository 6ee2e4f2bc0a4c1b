"""A cluster run against a `dask scheduler` and two `dask worker` processes on 127.0.0.1:
a worker killed mid-fold costs that fold a retry from its last epoch, not the run; a cancel
stops the remote tasks within seconds. The project stays intact either way."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import make_project

from medview.core import messages as msg
from medview.core.project import Project
from training.cluster.driver import ClusterFolds
from training.engine.api import run_training
from training.recipe.cluster_address import parse_target
from training.recipe.config import TrainConfig

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow  # a scheduler and two workers start: ~30 s on a busy machine


def _cfg(folder, run_id: str, epochs: int) -> TrainConfig:
    return TrainConfig(
        project=str(folder), model="cnn_small", size=32, folds=2, epochs=epochs, batch_size=4,
        augment="none", threads=1, seed=5, run_id=run_id, predict_unlabelled=False,
    )  # fmt: skip


@pytest.fixture
def loopback(tmp_path):
    """`dask scheduler` + two one-thread `dask worker`s (no nanny: a killed one stays dead)."""
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    info = tmp_path / "scheduler.json"
    common = ["--host", "127.0.0.1", "--no-dashboard"]
    procs = [subprocess.Popen([dask, "scheduler", *common, "--port", "0",
                               "--scheduler-file", str(info)], env=env)]  # fmt: skip
    deadline = time.monotonic() + 60
    while not info.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    address = json.loads(info.read_text())["address"]
    for name in ("w1", "w2"):
        procs.append(subprocess.Popen([dask, "worker", address, *common, "--nthreads", "1",
                                       "--no-nanny", "--name", name], env=env))  # fmt: skip
    client = distributed.Client(address)
    client.wait_for_workers(2, timeout=120)
    yield address, client
    client.close()
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()  # a worker still closing its comms
            proc.wait(timeout=10)


def _project(tmp_path) -> Path:
    project = make_project(tmp_path, 12, kind="2d", size=32)
    folder = project.folder
    project.close()
    return folder


def _history_epochs(run_dir: Path, fold: int) -> list[int]:
    with open(run_dir / "history.csv", newline="", encoding="utf-8") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f) if int(r["fold"]) == fold]


def test_a_worker_killed_mid_fold_is_retried_and_resumes_from_its_last_epoch(loopback, tmp_path):
    address, client = loopback
    folder = _project(tmp_path)
    messages: list[msg.Message] = []
    killed: dict[str, object] = {}

    def emit(m: msg.Message) -> None:
        messages.append(m)
        if isinstance(m, msg.Epoch) and not killed:  # the fold's epoch 1 is mirrored: kill
            busy = client.processing()
            mine = [w for w, keys in busy.items() if any(f"-fold{m.fold}" in k for k in keys)]
            if not mine:
                return  # the scheduler has not said yet: the next epoch
            worker = mine[0]
            pid = client.run(os.getpid, workers=[worker])[worker]
            os.kill(pid, signal.SIGKILL)
            killed.update(fold=m.fold, worker=worker)

    runner = ClusterFolds(parse_target(address))
    outcome = run_training(_cfg(folder, "faulty", 4), emit, fold_runner=runner)
    assert outcome.status == "finished", outcome.error
    fold = killed["fold"]
    epochs = [m.epoch for m in messages if isinstance(m, msg.Epoch) and m.fold == fold]
    assert epochs == sorted(set(epochs)) and epochs[0] == 1 and epochs[-1] == 4  # no restart
    resumed = [m.text for m in messages if isinstance(m, msg.Log) and "resumed after" in m.text]
    assert resumed and f"fold {fold}: resumed after epoch" in resumed[0]
    assert killed["worker"] not in resumed[0]  # on the other worker
    assert _history_epochs(outcome.run_dir, fold) == [1, 2, 3, 4]  # the fold's whole history
    metrics = json.loads((outcome.run_dir / "metrics.json").read_text())
    assert [f["epochs_run"] for f in metrics["folds"]] == [4, 4]
    with Project.open(folder) as project:  # intact: one finished run, its predictions
        assert [(r.id, r.status) for r in project.runs()] == [("faulty", "finished")]


def test_cancel_from_the_client_stops_the_remote_tasks_within_seconds(loopback, tmp_path):
    address, client = loopback
    folder = _project(tmp_path)
    asked: list[float] = []

    def emit(m: msg.Message) -> None:
        if isinstance(m, msg.Epoch) and not asked:
            asked.append(time.monotonic())

    runner = ClusterFolds(parse_target(address))
    outcome = run_training(_cfg(folder, "stopped", 200), emit, lambda: bool(asked), runner)
    assert outcome.status == "cancelled"

    def executing(dask_worker) -> int:
        return len(dask_worker.state.executing)

    while any(client.run(executing).values()):
        assert time.monotonic() - asked[0] < 10, "a remote fold is still training"
        time.sleep(0.2)
    with Project.open(folder) as project:
        assert [(r.id, r.status) for r in project.runs()] == [("stopped", "cancelled")]
