"""Folds on a Dask cluster (`medview train --on ...`): a 2-worker LocalCluster run is the
local run (same folds, same metrics, same run-folder files), its epochs come back as the local
run's messages, and the workers are sent tensors, ids and labels, never names or paths."""

from __future__ import annotations

import csv
import json
import pickle

import pytest
from projects import make_project

from medview.core import messages as msg
from training.cluster.driver import ClusterFolds
from training.engine.api import run_training
from training.recipe.cluster_address import parse_target
from training.recipe.config import TrainConfig

pytest.importorskip("distributed")
# Two runs, one of them on two spawned worker processes that import torch: 25-75 s here.
pytestmark = pytest.mark.slow


def _cfg(folder, run_id: str) -> TrainConfig:
    return TrainConfig(
        project=str(folder), model="cnn_small", size=32, folds=2, epochs=2, batch_size=4,
        augment="none", threads=1, seed=3, run_id=run_id, predict_unlabelled=False,
    )  # fmt: skip


def _rows(run_dir):
    with open(run_dir / "predictions.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _close(a, b, tol=1e-4):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= tol
    return a == b


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same run trained here and on a LocalCluster of two one-thread worker processes."""
    tmp = tmp_path_factory.mktemp("cluster")
    project = make_project(tmp, 12, kind="2d", size=32, groups=4, test=2)
    folder, items = project.folder, project.items()
    project.close()
    local = run_training(_cfg(folder, "here"))
    sent: list[bytes] = []
    from distributed import Client

    real_submit = Client.submit

    def spy(self, fn, *args, **kwargs):
        sent.append(pickle.dumps(args))
        return real_submit(self, fn, *args, **kwargs)

    messages: list[msg.Message] = []
    patch = pytest.MonkeyPatch()
    patch.setattr(Client, "submit", spy)
    try:
        runner = ClusterFolds(parse_target("local-cluster:2"))
        remote = run_training(_cfg(folder, "there"), messages.append, fold_runner=runner)
    finally:
        patch.undo()
    return folder, items, local, remote, messages, sent, runner


def test_a_local_cluster_run_has_the_local_runs_folds_and_metrics(two_runs):
    folder, _items, local, remote, _messages, _sent, _runner = two_runs
    assert local.status == remote.status == "finished", remote.error
    mine = json.loads((local.run_dir / "metrics.json").read_text())
    theirs = json.loads((remote.run_dir / "metrics.json").read_text())
    assert mine["split_plan"] == theirs["split_plan"]  # the same fold assignments
    for a, b in zip(mine["folds"], theirs["folds"], strict=True):
        timeless = {"seconds", "train_seconds", "samples_per_second"}
        a, b = ({k: v for k, v in f.items() if k not in timeless} for f in (a, b))
        assert _close(a, b), (a, b)
    assert _close(mine["summary"], theirs["summary"])
    here, there = _rows(local.run_dir), _rows(remote.run_dir)
    assert [(r["item_id"], r["fold"], r["split"]) for r in here] == [
        (r["item_id"], r["fold"], r["split"]) for r in there
    ]
    for a, b in zip(here, there, strict=True):  # every probability, within 1e-4
        assert _close(*({k: _number(v) for k, v in r.items()} for r in (a, b))), (a, b)
    names = sorted(p.name for p in local.run_dir.iterdir())
    assert names == sorted(p.name for p in remote.run_dir.iterdir())
    assert "fold1.safetensors" in names and "fold2.safetensors" in names


def test_the_workers_epochs_arrive_as_a_local_runs_messages(two_runs):
    _folder, _items, _local, remote, messages, _sent, _runner = two_runs
    epochs = [m for m in messages if isinstance(m, msg.Epoch)]
    assert sorted((m.fold, m.epoch) for m in epochs) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert all(m.run_id == remote.run_id for m in epochs)
    fractions = [m.fraction_done for m in epochs]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert [m.fold for m in messages if isinstance(m, msg.FoldDone)] == [1, 2]
    assert isinstance(messages[-1], msg.Finished)


def test_workers_get_tensors_ids_and_labels_but_no_names_paths_or_groups(two_runs):
    folder, items, _local, _remote, _messages, sent, runner = two_runs
    assert len(sent) == 2  # one task per fold
    secrets = {str(folder), folder.name}
    for it in items:
        secrets |= {it.name, it.group or "", *it.paths}
    secrets.discard("")
    for payload in sent:
        leaked = [s for s in secrets if s.encode() in payload]
        assert not leaked, leaked
    assert runner.bytes_sent > 12 * 32 * 32 * 4  # the tensors did travel


def test_a_window_job_with_run_on_trains_its_folds_on_the_cluster(tmp_path):
    """The window's training process (training.jobs.train) takes "Run on" from the job's
    config: the folds train on the cluster and the messages are a local run's."""
    import queue
    import threading

    from training.jobs import train as run

    project = make_project(tmp_path, 8, kind="2d", size=32)
    folder = project.folder
    project.close()
    config = _cfg(folder, "from-window").to_dict()
    config.update(epochs=1, run_on="local-cluster:2")
    messages: queue.Queue = queue.Queue()
    run(config, messages, threading.Event())
    got = [msg.from_dict(messages.get_nowait()) for _ in range(messages.qsize())]
    assert isinstance(got[-1], msg.Finished), got[-1]
    logs = [m.text for m in got if isinstance(m, msg.Log)]
    assert any("to the cluster in" in text for text in logs)  # the folds went to Dask
    assert sorted(m.fold for m in got if isinstance(m, msg.Epoch)) == [1, 2]
