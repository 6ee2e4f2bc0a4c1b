"""The clusters medview starts itself: SLURM jobs through dask-jobqueue (the job script and
the jobs at once, against a stand-in `sbatch`), and a scheduler and workers over SSH against a
real `sshd` on 127.0.0.1 with a key made by the test (skipped, with the reason, without one)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
from projects import make_project

from training.cluster import slurm
from training.cluster.arguments import add_cluster_arguments, fold_runner_from_args
from training.recipe.cluster_address import parse_target

pytest.importorskip("dask_jobqueue")

SLURM_FLAGS = ["--on", "slurm", "--slurm-partition", "gpu", "--slurm-account", "lab42",
               "--slurm-walltime", "02:00:00", "--slurm-gpus", "2", "--slurm-jobs", "3",
               "--remote-python", "/opt/envs/medview/bin/python"]  # fmt: skip


def _args(flags: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_cluster_arguments(parser)
    return parser.parse_args(flags)


def test_the_slurm_job_script_carries_the_labs_choices_and_tls(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # where the run's certificate goes
    options = slurm.slurm_options(_args(SLURM_FLAGS))
    with slurm.slurm_cluster(options, host="127.0.0.1") as cluster:
        script, address = cluster.job_script(), cluster.scheduler_address
    for line in ("#SBATCH -p gpu", "#SBATCH -A lab42", "#SBATCH -t 02:00:00",
                 "#SBATCH --gres=gpu:2"):  # fmt: skip
        assert line in script.splitlines(), line
    assert "/opt/envs/medview/bin/python -m distributed.cli.dask_worker tls://" in script
    assert "--resources GPU=2" in script and "--nthreads" in script
    assert address.startswith("tls://")  # the compute nodes reach it over TLS only
    assert f"--tls-ca-file {tmp_path}/.medview/dask/" in script  # readable by the jobs


def test_slurm_mode_submits_the_jobs_at_once(tmp_path, monkeypatch):
    bin_dir, log = tmp_path / "bin", tmp_path / "sbatch.log"
    bin_dir.mkdir()
    for name, body in (("sbatch", f'echo "$@" >> {log}; echo "Submitted batch job $$"'),
                       ("scancel", "exit 0"), ("squeue", "exit 0")):  # fmt: skip
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(slurm, "slurm_cluster", partial(slurm.slurm_cluster, host="127.0.0.1"))
    runner = fold_runner_from_args(_args(SLURM_FLAGS))
    with runner.start():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_lines(log)) < 3:
            time.sleep(0.2)
        assert len(_lines(log)) == 3  # --slurm-jobs 3: three jobs submitted at once


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sshd(tmp_path):
    """A real sshd on 127.0.0.1 that lets this user in with a key made here."""
    binary = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(binary).exists() or not shutil.which("ssh-keygen"):
        pytest.skip("no sshd here (Debian: apt-get install openssh-server)")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)],
                       check=True)  # fmt: skip
    shutil.copy(tmp_path / "client_key.pub", tmp_path / "authorized_keys")
    port = _free_port()
    env_line = f"PYTHONPATH={os.environ.get('PYTHONPATH', '')} OMP_NUM_THREADS=1"
    (tmp_path / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp_path / 'host_key'}\n"
        f"AuthorizedKeysFile {tmp_path / 'authorized_keys'}\nPasswordAuthentication no\n"
        f"StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        f"PidFile {tmp_path / 'sshd.pid'}\nSetEnv {env_line}\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True) if os.geteuid() == 0 else None
    proc = subprocess.Popen([binary, "-D", "-e", "-f", str(tmp_path / "sshd_config")],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.skip(f"sshd could not start: {proc.stderr.read()[-300:] if proc.stderr else ''}")
    yield port, tmp_path / "client_key"
    proc.terminate()
    proc.wait(timeout=10)


def test_ssh_mode_starts_a_scheduler_and_a_worker_over_ssh_and_stops_them(sshd):
    from distributed import Client

    from training.cluster.ssh import SshOptions, ssh_cluster

    port, key = sshd
    connect = {"port": port, "client_keys": [str(key)], "known_hosts": None}
    options = SshOptions(["127.0.0.1"], sys.executable, 0, connect)
    with ssh_cluster(options) as cluster, Client(cluster) as client:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        worker_pid = client.submit(os.getpid, pure=False).result(timeout=60)
        assert worker_pid != os.getpid()  # a process sshd started
    with pytest.raises(ProcessLookupError):  # stopped after the run
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            os.kill(worker_pid, 0)
            time.sleep(0.2)


@pytest.mark.slow  # a scheduler and a worker start over SSH, then two folds train
def test_ssh_mode_starts_scheduler_and_worker_over_ssh_and_trains_the_folds(sshd, tmp_path):
    from training.cluster.driver import ClusterFolds
    from training.cluster.ssh import SshOptions, ssh_cluster
    from training.engine.api import run_training
    from training.recipe.config import TrainConfig

    port, key = sshd
    connect = {"port": port, "client_keys": [str(key)], "known_hosts": None}
    options = SshOptions(["127.0.0.1"], sys.executable, 0, connect)
    runner = ClusterFolds(parse_target("ssh://127.0.0.1"), start=lambda: ssh_cluster(options))
    project = make_project(tmp_path, 12, kind="2d", size=32)
    folder = project.folder
    project.close()
    cfg = TrainConfig(project=str(folder), model="cnn_small", size=32, folds=2, epochs=1,
                      batch_size=4, augment="none", threads=1, run_id="over-ssh",
                      predict_unlabelled=False)  # fmt: skip
    outcome = run_training(cfg, fold_runner=runner)
    assert outcome.status == "finished", outcome.error
    metrics = json.loads((outcome.run_dir / "metrics.json").read_text())
    assert [f["fold"] for f in metrics["folds"]] == [1, 2]
