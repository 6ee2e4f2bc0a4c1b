"""kill -9 in the middle of a burst of labels (the CLI, and the window offscreen) and in the
middle of a training run: every acknowledged label is there after reopening, an interrupted
run says so (and can be deleted, and run again with the same settings), and SQLite's
integrity check passes.

A kill can land between the commit of a label and its acknowledgement: that one write may
be newer than the last acknowledgement (never older). Lost = an item whose stored label is
neither its last acknowledged one nor that single in-flight one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rb_helpers import REPO, cli_env, run_cli

from medview.core.project import Project

HERE = Path(__file__).resolve().parent
ITEMS = 25


def _project(tmp_path: Path) -> Path:
    with Project.create(tmp_path / "p") as p:
        for n in range(ITEMS):
            p.add_item(
                name=f"item{n}",
                kind="2d",
                reader="raster",
                paths=[tmp_path / f"item{n}.png"],
                shape=(1, 8, 8),
                spacing=(1, 1, 1),
                content_hash=f"h{n:04d}",
            )
        return p.folder


def _burst_and_kill(mode: str, folder: Path, acks_before_kill: int, env: dict[str, str]) -> int:
    """Start a burst, SIGKILL it after some acknowledgements; return the labels lost."""
    with Project.open(folder) as p:
        ids = [i.id for i in p.items()]
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "crash_scripts.py"), mode, str(folder), *map(str, ids)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    acked: dict[int, str] = {}
    order: list[int] = []
    try:
        for _ in range(acks_before_kill):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "no output"
            item, label = line.split()
            acked[int(item)] = label
            order.append(int(item))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    for line in proc.stdout.read().splitlines():  # acknowledged before the kill, still piped
        item, label = line.split()
        acked[int(item)] = label
        order.append(int(item))
    with Project.open(folder) as p:
        assert p.integrity_check() == "ok"
        stored = {i.id: i.label for i in p.items()}
    # The write in flight: the item after the last acknowledged one, with the other label.
    in_flight_item = ids[len(order) % len(ids)]
    lost = 0
    for item, label in acked.items():
        if stored[item] == label:
            continue
        if item == in_flight_item and stored[item] in ("WT", "MUT"):
            continue
        lost += 1
    return lost


@pytest.mark.parametrize("trial", range(4))
def test_kill_9_cli_label_burst_loses_no_acknowledged_label(tmp_path: Path, trial: int) -> None:
    folder = _project(tmp_path)
    acks = random.Random(trial).randint(5, 120)
    assert _burst_and_kill("cli", folder, acks, cli_env()) == 0


def test_kill_9_separate_cli_label_commands(tmp_path: Path) -> None:
    """Real ``medview label`` processes, some killed at random moments of their life:
    each completed one is stored, each killed one is either stored or not (never half)."""
    folder = _project(tmp_path)
    rng = random.Random(7)
    completed: dict[int, str] = {}
    killed: dict[int, str] = {}
    for item in range(1, 11):
        label = rng.choice(["WT", "MUT"])
        proc = subprocess.Popen(
            [sys.executable, "-m", "medview", "label", str(folder), str(item), label],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=cli_env(),
            cwd=REPO,
        )
        if item % 2:
            time.sleep(rng.uniform(0.05, 0.6))  # start-up, open, write, print: any moment
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if proc.returncode == 0:
                completed[item] = label
            else:
                killed[item] = label
        else:
            assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
            completed[item] = label
    with Project.open(folder) as p:
        assert p.integrity_check() == "ok"
        stored = {i.id: i.label for i in p.items()}
    assert all(stored[i] == label for i, label in completed.items())
    assert all(stored[i] in (None, label) for i, label in killed.items())


@pytest.mark.parametrize("trial", range(2))
def test_kill_9_window_label_burst_loses_no_acknowledged_label(tmp_path: Path, trial: int) -> None:
    pytest.importorskip("PySide6")
    folder = _project(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_CONFIG_HOME=str(home))
    acks = random.Random(100 + trial).randint(10, 80)
    assert _burst_and_kill("gui", folder, acks, env) == 0


# ---------------------------------------------------------------------------- training
def _training_project(tmp_path: Path) -> Path:
    import nibabel as nib

    rng = np.random.default_rng(0)
    data = tmp_path / "vols"
    data.mkdir()
    with Project.create(tmp_path / "t", ["WT", "MUT"]) as p:
        for k in range(8):
            vol = rng.normal(0, 1, (12, 12, 12)).astype(np.float32)
            vol[4:8, 4:8, 4:8] += 3.0 * (k % 2)
            path = data / f"v{k}.nii.gz"
            nib.save(nib.Nifti1Image(vol, np.eye(4)), str(path))
            p.add_item(
                name=path.name,
                kind="3d",
                reader="nifti",
                paths=[path],
                shape=(12, 12, 12),
                spacing=(1, 1, 1),
                content_hash=f"vol{k}",
                label=("WT", "MUT")[k % 2],
            )
        return p.folder


TINY_TRAIN = ["--model", "cnn3d_small", "--size", "16", "--folds", "2", "--batch-size", "4"]
TINY_TRAIN += ["--augment", "none", "--threads", "1", "--device", "cpu", "--no-predict"]


def test_kill_9_during_training_marks_the_run_interrupted_and_it_can_be_rerun(
    tmp_path: Path,
) -> None:
    pytest.importorskip("torch")
    folder = _training_project(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "medview", "train", str(folder), *TINY_TRAIN, "--epochs", "500"]
        + ["--json-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO,
    )
    assert proc.stdout is not None
    run_id = None
    try:
        for line in proc.stdout:
            message = json.loads(line)
            run_id = message.get("run_id") or run_id
            if message["type"] == "epoch":
                break
        else:
            pytest.fail(proc.stderr.read() if proc.stderr else "no epoch")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert run_id
    with Project.open(folder) as p:  # opening notices the dead process
        assert p.integrity_check() == "ok"
        run = p.get_run(run_id)
        assert run.status == "interrupted", run
    config = folder / "runs" / run_id / "config.json"
    assert config.is_file()
    # The same settings again (but 1 epoch): from the interrupted run's config.json.
    rerun = run_cli("train", folder, "--config", config, "--epochs", "1", "--json-progress")
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    finished = [json.loads(x) for x in rerun.stdout.splitlines() if '"finished"' in x]
    assert finished
    with Project.open(folder) as p:
        runs = {r.id: r for r in p.runs()}
        new = next(r for r in runs.values() if r.status == "finished")
        assert new.id != run_id
        old_cfg = runs[run_id].config
        for key in ("model", "size", "folds", "batch_size", "augment", "seed", "lr"):
            assert new.config[key] == old_cfg[key], key
        assert new.config["epochs"] == 1
        assert new.config["project"] == str(folder)
        p.delete_run(run_id)
        assert not (folder / "runs" / run_id).exists()
        assert [r.id for r in p.runs()] == [new.id]
        assert p.integrity_check() == "ok"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not yet reaped by anyone) is dead too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def test_kill_9_window_during_training_stops_the_worker_and_marks_the_run(
    tmp_path: Path,
) -> None:
    """The window dies (kill -9) while its worker trains: the worker must not train on as an
    orphan nobody can cancel, and reopening shows the run ended, labels and db intact."""
    pytest.importorskip("PySide6")
    pytest.importorskip("torch")
    folder = _training_project(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_CONFIG_HOME=str(home))
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "crash_scripts.py"), "gui_train", str(folder), "500", "16"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        assert line.startswith("epoch"), proc.stderr.read() if proc.stderr else line
        worker = int(line.split()[1])
        assert _alive(worker)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 60
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    orphan = _alive(worker)
    if orphan:
        os.kill(worker, signal.SIGKILL)
    assert not orphan, "the training worker kept running after the window was killed"
    with Project.open(folder) as p:
        assert p.integrity_check() == "ok"
        (run,) = p.runs()
        assert run.status == "interrupted", run
        assert len(p.items(labelled=True)) == 8
