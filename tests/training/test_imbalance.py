"""The imbalance note (smallest class under a third of the largest): in the plan check and in
the run's report, saying what medview does about it and what the user can switch on."""

from __future__ import annotations

import json

import pytest
from projects import make_project

from training.config import TrainConfig
from training.imbalance import imbalance_note
from training.plan import check_plan


def test_the_note_says_what_is_done_and_what_can_be_switched_on() -> None:
    counts = {"WT": 40, "MUT": 10}
    assert imbalance_note({"WT": 30, "MUT": 10}, TrainConfig()) is None  # exactly a third
    auto = imbalance_note(counts, TrainConfig())
    assert auto is not None and "MUT has 10 items, WT 40 (4.0:1)" in auto
    assert "weights the loss by inverse class frequency (Auto)" in auto
    assert "balanced sampler (--sampler oversample or undersample)" in auto
    assert "--class-weights" not in auto
    manual = imbalance_note(counts, TrainConfig(auto=False))
    assert manual is not None and "These settings do nothing about it" in manual
    assert "switch on class weighting (--class-weights) or a balanced sampler" in manual
    both = imbalance_note(counts, TrainConfig(class_weights=True, sampler="oversample"))
    assert both is not None and "You can switch on" not in both
    assert "draws the classes equally often" in both
    under = imbalance_note(counts, TrainConfig(sampler="undersample"))
    assert under is not None and "balanced epochs of the smallest class's size" in under
    assert "--sampler" not in under
    assert imbalance_note({"WT": 40, "MUT": 0}, TrainConfig()) is None  # one class: no note


def _imbalanced(tmp_path, n_mut: int = 3):
    project = make_project(tmp_path, n=24)  # 12 WT, 12 MUT
    mut = [it.id for it in project.items(labelled=True) if it.label == "MUT"]
    for item_id in mut[n_mut:]:
        project.set_label(item_id, None)
    return project


def test_the_plan_check_notes_the_imbalance(tmp_path) -> None:
    project = _imbalanced(tmp_path)
    plan = check_plan(project, {"model": "cnn3d_small", "folds": 3, "auto": False})
    assert plan.ok
    (note,) = [w for w in plan.warnings if w.startswith("Imbalanced")]
    assert "MUT has 3 items, WT 12" in note and "--class-weights" in note


@pytest.mark.slow
def test_the_report_notes_the_imbalance(tmp_path) -> None:
    from training.api import run_training

    project = _imbalanced(tmp_path)
    folder = project.folder
    project.close()
    cfg = TrainConfig(
        project=str(folder), model="cnn3d_small", size=16, epochs=1, folds=3, batch_size=4,
        threads=1, device="cpu", auto=False, class_weights=True, run_id="imb",
        predict_unlabelled=False,
    )  # fmt: skip
    assert run_training(cfg).status == "finished"
    metrics = json.loads((folder / "runs" / "imb" / "metrics.json").read_text())
    assert "MUT has 3 items, WT 12" in metrics["imbalance"]
    assert "weights the loss by inverse class frequency." in metrics["imbalance"]
    assert metrics["imbalance"] in metrics["warnings"]
