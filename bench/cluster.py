"""Folds on a Dask cluster vs this computer: a 5-fold run on the example (`medview demo`'s
2D half, cnn_small at 32 px) trained locally, on a LocalCluster of 2 one-thread workers, and
on a `dask scheduler` with 2 `dask worker` processes started on loopback. Prints one JSON
line: per setting the wall time, the speed-up over local and the bytes of tensors shipped,
plus the per-task overhead of the cluster (mean round trip of an empty task).

    OMP_NUM_THREADS=1 .venv/bin/python bench/cluster.py [--epochs 2] [--folds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medview.demo import create_demo_project  # noqa: E402
from training.cluster.driver import ClusterFolds  # noqa: E402
from training.engine.api import run_training  # noqa: E402
from training.recipe.cluster_address import parse_target  # noqa: E402
from training.recipe.config import TrainConfig  # noqa: E402


def _cfg(folder: Path, run_id: str, args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        project=str(folder), model="cnn_small", size=32, folds=args.folds, epochs=args.epochs,
        batch_size=8, augment="none", threads=1, run_id=run_id, predict_unlabelled=False,
    )  # fmt: skip


def _timed(folder: Path, run_id: str, args: argparse.Namespace, runner=None) -> dict:
    started = time.perf_counter()
    extra = {"fold_runner": runner} if runner else {}
    outcome = run_training(_cfg(folder, run_id, args), **extra)
    assert outcome.status == "finished", outcome.error
    result = {"wall_s": round(time.perf_counter() - started, 2)}
    if runner is not None:
        result["bytes_shipped"] = runner.bytes_sent
    return result


def _task_overhead_ms(address: str) -> float:
    """Mean round trip of an empty task: what each fold task costs beyond its training."""
    from distributed import Client

    with Client(address) as client:
        client.submit(os.getpid, pure=False).result()  # warm
        started = time.perf_counter()
        for _ in range(20):
            client.submit(time.monotonic, pure=False).result()
        return round((time.perf_counter() - started) / 20 * 1000, 2)


def _loopback_cluster(tmp: Path) -> tuple[str, list[subprocess.Popen]]:
    dask = str(Path(sys.executable).with_name("dask"))
    info, common = tmp / "scheduler.json", ["--host", "127.0.0.1", "--no-dashboard"]
    procs = [subprocess.Popen([dask, "scheduler", *common, "--port", "0", "--scheduler-file",
                               str(info)], stderr=subprocess.DEVNULL)]  # fmt: skip
    while not info.exists():
        time.sleep(0.2)
    address = json.loads(info.read_text())["address"]
    for _ in range(2):
        procs.append(subprocess.Popen([dask, "worker", address, *common, "--nthreads", "1"],
                                      stderr=subprocess.DEVNULL))  # fmt: skip
    from distributed import Client

    with Client(address) as client:
        client.wait_for_workers(2, timeout=120)
    return address, procs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        project = create_demo_project(tmp / "example.medview", n_volumes=0)
        folder = project.folder
        project.close()
        local = _timed(folder, "local", args)
        runner = ClusterFolds(parse_target("local-cluster:2"))
        local_cluster = _timed(folder, "local-cluster", args, runner)
        address, procs = _loopback_cluster(tmp)
        try:
            processes = _timed(folder, "processes", args, ClusterFolds(parse_target(address)))
            processes["task_overhead_ms"] = _task_overhead_ms(address)
        finally:
            for proc in procs:
                proc.terminate()
    for row in (local_cluster, processes):
        row["speed_up"] = round(local["wall_s"] / row["wall_s"], 2)
    print(json.dumps({
        "folds": args.folds, "epochs": args.epochs, "items": "example 2D (40 images)",
        "cpu_threads_per_worker": 1, "local": local, "local_cluster_2_workers": local_cluster,
        "scheduler_and_2_worker_processes": processes,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
