"""Optuna search: the space, a 4-trial search killed with SIGKILL mid-way and resumed without
repeating its finished trials, the best settings, the study files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import make_project
from synth import install_fallback_reader

from medview.core.project import Project
from training.config import MODELS_3D, TrainConfig
from training.tune import NOT_SEARCHED, STORAGE_NAME, run_tune, search_space, storage_url

ROOT = Path(__file__).resolve().parents[2]
TRAIN_FLAGS = [
    "--folds", "2", "--epochs", "1", "--size", "16", "--batch-size", "4",
    "--threads", "1", "--no-predict", "--augment", "none",
]  # fmt: skip


def test_search_space():
    space = search_space(["cnn_small"])
    assert set(space) == {"lr", "batch_size", "weight_decay", "augment"}
    assert space["lr"]["log"] and space["augment"]["choices"] == ["none", "light", "strong"]
    three = search_space(list(MODELS_3D))
    assert three["model"]["choices"] == list(MODELS_3D)
    assert "medicalnet_resnet50" in three["model"]["choices"]
    assert "cnn3d_small" in three["model"]["choices"]
    assert "train-layers" in NOT_SEARCHED and "train_layers" not in space


def test_search_space_includes_train_layers_from_pretrained_weights():
    space = search_space(["resnet50"], pretrained="/w/resnet50.pth")
    # resnet50 has 17 blocks: a quarter (4) and a half (8), head and all
    assert space["train_layers"] == {
        "type": "categorical",
        "choices": ["head", "last:4", "last:8", "all"],
    }
    both = search_space(["cnn3d_small", "medicalnet_resnet10"], pretrained="/w/x.pth")
    assert both["train_layers"]["choices"] == ["head", "last:1", "last:2", "all"]  # 4 blocks


@pytest.mark.slow
def test_a_trial_trains_the_layers_it_drew(tmp_path):
    """Two trials from a local weights file: each run's config and model_info say which
    layers it trained, and the study records train_layers as a searched setting."""
    import torch

    from training.models import build_model

    install_fallback_reader()
    project = make_project(tmp_path, 12, kind="3d", size=16)
    folder = project.folder
    project.close()
    weights = tmp_path / "cnn3d.pth"
    torch.save(build_model("cnn3d_small", 2).state_dict(), weights)
    cfg = TrainConfig(
        project=str(folder), model="cnn3d_small", folds=2, epochs=1, size=16, threads=1,
        augment="none", predict_unlabelled=False, precise_bn=False, pretrained=str(weights),
    )  # fmt: skip
    outcome = run_tune(cfg, budget=2, study_id="TL")
    assert outcome.status == "finished" and outcome.trials_run == 2
    report = json.loads((folder / "runs" / "TL" / "study.json").read_text())
    assert "train_layers" in report["spec"]["space"] and not report["spec"]["not_searched"]
    for trial in report["tune"]["trials"]:
        drawn = trial["params"]["train_layers"]
        run = folder / "runs" / trial["run_id"]
        config = json.loads((run / "config.json").read_text())
        info = json.loads((run / "metrics.json").read_text())["model_info"]
        assert config["train_layers"] == drawn == info["train_layers"]
    assert "train_layers" in outcome.best_settings


def _done_trials(folder: Path, study_id: str) -> list[int]:
    """Read the storage with plain sqlite3: opening it with Optuna while the search process
    is still creating its tables would race with it."""
    import sqlite3

    path = folder / STORAGE_NAME
    if not path.is_file():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute(
                "SELECT t.number FROM trials t JOIN studies s ON t.study_id = s.study_id "
                "WHERE s.study_name = ? AND t.state IN ('COMPLETE', 'PRUNED')",
                (study_id,),
            ).fetchall()
    except sqlite3.Error:
        return []
    return [r[0] for r in rows]


@pytest.mark.slow
def test_killed_search_resumes_without_repeating_finished_trials(tmp_path):
    import optuna

    install_fallback_reader()
    project = make_project(tmp_path, 12, kind="2d", size=16)
    folder = project.folder
    project.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "medview", "tune", str(folder), "--model", "cnn_small"]
    cmd += ["--budget", "4", "--study-id", "T", *TRAIN_FLAGS]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 240
    try:
        while len(_done_trials(folder, "T")) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "two trials did not finish in time"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (folder / STORAGE_NAME).is_file()  # the Optuna storage sits beside project.db
    before = optuna.load_study(study_name="T", storage=storage_url(folder)).get_trials()
    kept = {t.number: t for t in before if t.state.is_finished()}
    assert len(kept) >= 2 and len(kept) < 4
    with Project.open(folder) as p:
        assert p.get_study("T").status == "interrupted"
        runs_before = {r.id: r.started_at for r in p.study_runs("T")}

    cfg = TrainConfig(project=str(folder))
    outcome = run_tune(cfg, budget=0, resume="T")
    assert outcome.status == "finished"
    assert outcome.trials_run == 4 - len(kept)  # only the missing trials were trained
    after = optuna.load_study(study_name="T", storage=storage_url(folder)).get_trials()
    finished = [t for t in after if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4
    for number, trial in kept.items():  # the earlier trials are the same trials, untouched
        again = after[number]
        assert again.params == trial.params and again.datetime_complete == trial.datetime_complete
    stale = [t for t in after if t.number not in kept and t.number < len(before)]
    assert all(t.state.name == "FAIL" for t in stale)  # the one killed mid-run
    with Project.open(folder) as p:
        runs_after = {r.id: r for r in p.study_runs("T")}
        assert p.get_study("T").status == "finished"
    for run_id, started in runs_before.items():
        if run_id in {t.user_attrs["run_id"] for t in kept.values()}:
            assert runs_after[run_id].started_at == started  # finished runs kept, not redone
    report = json.loads((folder / "runs" / "T" / "study.json").read_text())
    assert report["kind"] == "tune" and report["tune"]["best_run"] == outcome.best_run
    assert set(outcome.best_settings) >= {"lr", "batch_size", "weight_decay", "augment", "model"}
    assert report["differing_settings"]  # lr etc. differ between trials: the HP table
    assert len(report["tune"]["trials"]) == len(after)


@pytest.mark.slow
def test_a_search_over_3d_models_scores_auc_and_macs(tmp_path):
    install_fallback_reader()
    project = make_project(tmp_path, 12, kind="3d", size=16)
    folder = project.folder
    project.close()
    cfg = TrainConfig(
        project=str(folder), folds=2, epochs=1, size=16, batch_size=4, threads=2,
        augment="none", predict_unlabelled=False, precise_bn=False,
    )  # fmt: skip
    outcome = run_tune(cfg, ["cnn3d_small", "medicalnet_resnet10"], budget=2, study_id="T3")
    assert outcome.status == "finished" and outcome.trials_run == 2
    report = json.loads((folder / "runs" / "T3" / "study.json").read_text())
    assert report["spec"]["objectives"] == ["cv_auc", "macs"]
    assert report["spec"]["pruner"].startswith("none")
    trials = report["tune"]["trials"]
    assert all(t["state"] == "complete" and len(t["values"]) == 2 for t in trials)
    assert all(t["values"][1] == t["macs"] > 0 for t in trials)
    assert outcome.pareto_runs and outcome.best_run in outcome.pareto_runs
    assert outcome.best_settings["model"] in ("cnn3d_small", "medicalnet_resnet10")
