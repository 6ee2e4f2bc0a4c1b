"""End-to-end runs on tiny synthetic projects: learning, the run folder contract, test-split
isolation, ensembles, stored predictions, early stopping, cancel, hold-out, --fold + merge."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from projects import make_project
from synth import install_fallback_reader

from medview.core import messages as msg
from medview.core.project import Project
from training.api import run_training
from training.config import TrainConfig
from training.merge import merge_runs

FOLD_KEYS = {
    "fold", "n_train", "n_val", "accuracy", "precision", "recall", "specificity", "f1",
    "roc_auc", "best_epoch", "epochs_run",
}  # fmt: skip
RUN_FILES = {
    "config.json", "metrics.json", "history.csv", "predictions.csv", "log.txt",
    "roc.png", "roc.svg", "confusion.png", "confusion.svg", "loss.png", "loss.svg",
}  # fmt: skip


def _cfg(project, **kw) -> TrainConfig:
    base = dict(
        project=str(project.folder if hasattr(project, "folder") else project),
        model="cnn3d_small",
        folds=2,
        epochs=4,
        batch_size=4,
        size=16,
        augment="none",
        lr=3e-3,
        threads=2,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    install_fallback_reader()
    tmp = tmp_path_factory.mktemp("full")
    project = make_project(tmp, 24, test=6, unlabelled=3)
    folder = project.folder
    project.close()
    events: list[msg.Message] = []
    outcome = run_training(_cfg(folder, run_id="full"), events.append)
    return folder, outcome, events


def test_two_fold_run_learns(full_run):
    _folder, outcome, _ = full_run
    assert outcome.status == "finished", outcome.error
    for fold in outcome.metrics["folds"]:
        assert fold["roc_auc"] >= 0.8  # chance is 0.5
    assert outcome.metrics["test"]["roc_auc"] >= 0.8


def test_run_folder_and_metrics_contract(full_run):
    folder, outcome, _ = full_run
    run_dir = folder / "runs" / "full"
    assert RUN_FILES | {"fold1.safetensors", "fold2.safetensors"} <= {
        p.name for p in run_dir.iterdir()
    }
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["task"] == "binary" and m["classes"] == ["WT", "MUT"]
    assert m["model"] == "cnn3d_small" and m["device"] == "cpu"
    assert [f["fold"] for f in m["folds"]] == [1, 2]
    for fold in m["folds"]:
        assert set(fold) >= FOLD_KEYS
        assert fold["n_train"] + fold["n_val"] == 24
    for key in ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc"):
        assert set(m["summary"][key]) >= {"mean", "std"}
    assert {"accuracy", "roc_auc", "f1"} <= set(m["test"])
    assert {"roc_test.png", "confusion_test.png"} <= {p.name for p in run_dir.iterdir()}
    assert set(m["leakage"]) >= {"duplicate_items_across_folds", "groups_across_folds"}
    assert m["timing"]["total_seconds"] > 0 and m["timing"]["train_samples_per_second"] > 0
    assert m["model_info"]["parameters"] > 0 and m["model_info"]["macs"] > 0
    assert np.asarray(m["pooled_confusion"]).sum() == 24
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["model"] == "cnn3d_small" and cfg["folds"] == 2 and cfg["seed"] == 42
    with (run_dir / "history.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:4] == ["fold", "epoch", "train_loss", "val_loss"]
    assert {"lr", "seconds", "val_auc"} <= set(rows[0])
    assert len(rows) == 8
    with (run_dir / "predictions.csv").open() as fh:
        preds = list(csv.DictReader(fh))
    assert list(preds[0]) == [
        "item_id",
        "item_name",
        "fold",
        "split",
        "true",
        "prob_WT",
        "prob_MUT",
        "predicted",
    ]
    with Project.open(folder) as project:
        assert project.get_run("full").status == "finished"
        assert project.get_run("full").metrics["summary"]["roc_auc"]["mean"] is not None


def test_test_items_never_trained_and_ensembled(full_run):
    folder, outcome, _ = full_run
    plan = outcome.metrics["split_plan"]
    with Project.open(folder) as project:
        test_ids = {it.id for it in project.items(split="test")}
        stored = project.predictions("full")
        unlabelled = {it.id for it in project.items(labelled=False)}
    assert set(plan["test"]) == test_ids
    for fold in plan["folds"]:
        assert not test_ids & (set(fold["train"]) | set(fold["val"]))
    by = {(p.item_id, p.fold): p.probabilities for p in stored}
    # fold 0 = mean of the fold models, temperature-scaled with the T fitted on the OOF rows
    from training.calibration import apply_temperature

    temperature = outcome.metrics["calibration"]["temperature"]
    for item in test_ids:
        mean = np.mean([by[(item, 1)], by[(item, 2)]], axis=0)
        expected = apply_temperature(mean[None], temperature)[0]
        assert np.allclose(by[(item, 0)], expected, atol=1e-5)
    assert unlabelled and all((i, 0) in by for i in unlabelled)  # unlabelled items predicted
    assert all((i, 0) in by for f in plan["folds"] for i in f["val"])  # out-of-fold rows


def test_progress_messages(full_run):
    _folder, _outcome, events = full_run
    types = [e.type for e in events]
    assert types.index("started") < types.index("epoch") < types.index("fold_done")
    assert types[-1] == "finished" and types.count("fold_done") == 2
    epochs = [e for e in events if e.type == "epoch"]
    assert len(epochs) == 8 and epochs[-1].fraction_done == pytest.approx(1.0)
    assert all(e.eta_seconds is not None for e in epochs)
    json.loads(epochs[0].to_json())


def test_fold_runs_merge_to_the_full_run(full_run, tmp_path):
    folder, outcome, _ = full_run
    ids = []
    for fold in (1, 2):
        out = run_training(_cfg(folder, fold=fold, run_id=f"part{fold}"))
        assert out.status == "finished", out.error
        assert [f["fold"] for f in out.metrics["folds"]] == [fold]
        ids.append(out.run_id)
    with Project.open(folder) as project:
        merged = merge_runs(project, ids, "merged")
        assert project.get_run("merged").status == "finished"
    full_dir, merged_dir = folder / "runs" / "full", folder / "runs" / merged
    assert {p.name for p in merged_dir.iterdir()} == {p.name for p in full_dir.iterdir()}
    a = json.loads((full_dir / "metrics.json").read_text())
    b = json.loads((merged_dir / "metrics.json").read_text())
    assert set(b) - {"merged_from"} == set(a)
    assert b["split_plan"] == a["split_plan"]
    for fa, fb in zip(a["folds"], b["folds"], strict=True):
        assert set(fa) == set(fb)
        # same seeds, same data: the separate fold runs reproduce the full run's folds
        assert fb["roc_auc"] == pytest.approx(fa["roc_auc"], abs=1e-6)
        assert fb["best_epoch"] == fa["best_epoch"]
    assert b["test"]["roc_auc"] == pytest.approx(a["test"]["roc_auc"], abs=1e-6)
    with Project.open(folder) as project, pytest.raises(Exception, match="fold 1 is in both"):
        merge_runs(project, [ids[0], ids[0]], "again")


def test_early_stopping_stops(tmp_path):
    project = make_project(tmp_path, 16)
    project.close()
    # frozen encoder (BN statistics fixed) and lr ~ 0: validation never improves, so
    # patience 2 stops at epoch 3 of 20
    cfg = _cfg(project, epochs=20, lr=1e-12, patience=2, min_epochs=1, train_layers="head")
    out = run_training(cfg)
    assert out.status == "finished", out.error
    for fold in out.metrics["folds"]:
        assert fold["epochs_run"] == 3 and fold["best_epoch"] == 1 and fold["stopped_early"]


def test_cancel_keeps_completed_folds(tmp_path):
    project = make_project(tmp_path, 16)
    folder = project.folder
    project.close()
    seen: list[msg.Message] = []
    cancel = {"now": False}

    def emit(m: msg.Message) -> None:
        seen.append(m)
        if m.type == "epoch" and m.fold == 2:
            cancel["now"] = True

    out = run_training(_cfg(folder, epochs=3, folds=3, run_id="c"), emit, lambda: cancel["now"])
    assert out.status == "cancelled"
    assert seen[-1].type == "cancelled" and seen[-1].completed_folds == [1]
    run_dir = folder / "runs" / "c"
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["status"] == "cancelled" and [f["fold"] for f in m["folds"]] == [1]
    assert (run_dir / "fold1.safetensors").is_file() and not (
        run_dir / "fold2.safetensors"
    ).exists()
    assert (run_dir / "roc.png").is_file()
    with Project.open(folder) as p:
        assert p.get_run("c").status == "cancelled"
        assert p.integrity_check() == "ok"
        assert {pr.fold for pr in p.predictions("c")} <= {0, 1}


def test_duplicates_reported_and_holdout(tmp_path):
    project = make_project(tmp_path, 20, duplicates=4)
    project.close()
    out = run_training(_cfg(project, holdout=True, epochs=2, run_id="h"))
    assert out.status == "finished", out.error
    m = out.metrics
    assert m["mode"] == "holdout" and len(m["folds"]) == 1 and "test" in m
    leak = m["leakage"]
    assert leak["duplicate_items_across_folds"] + leak["duplicates_train_test"] >= 1
    assert any("identical items" in w for w in m["warnings"])


def test_multiclass_2d_run(tmp_path):
    project = make_project(
        tmp_path, 18, kind="2d", size=32, classes=("benign", "malignant", "normal")
    )
    project.close()
    out = run_training(
        _cfg(
            project,
            model="cnn_small",
            size=32,
            folds=2,
            epochs=2,
            augment="strong",
            class_weights=True,
        )
    )
    assert out.status == "finished", out.error
    m = out.metrics
    assert m["task"] == "multiclass" and m["classes"] == ["benign", "malignant", "normal"]
    fold = m["folds"][0]
    assert {"precision_weighted", "f1_weighted", "per_class", "roc_auc"} <= set(fold)
    assert set(fold["per_class"]) == {"benign", "malignant", "normal"}
    assert np.asarray(m["pooled_confusion"]).shape == (3, 3)


def test_bad_config_is_a_user_error(tmp_path):
    from medview.core.errors import MedviewError

    project = make_project(tmp_path, 6)
    project.close()
    with pytest.raises(MedviewError, match="--folds"):
        run_training(_cfg(project, folds=1))
    out = run_training(_cfg(project, folds=5))  # 3 per class < 5 folds
    assert out.status == "failed" and "at least 5 labelled items per class" in out.error


def test_pretrained_frozen_encoder_run_keeps_the_encoder(tmp_path):
    import torch
    from safetensors.torch import load_file

    from training.models import build_model

    project = make_project(tmp_path, 12)
    project.close()
    source = build_model("medicalnet_resnet10", 2)
    state = {
        f"module.{k}": v + 0.01 for k, v in source.state_dict().items() if not k.startswith("fc.")
    }
    weights = tmp_path / "resnet_10.pth"
    torch.save({"state_dict": state}, weights)
    cfg = _cfg(
        project, model="medicalnet_resnet10", epochs=1, pretrained=str(weights), train_layers="head"
    )
    out = run_training(cfg)
    assert out.status == "finished", out.error
    saved = load_file(str(out.run_dir / "fold1.safetensors"))
    assert torch.equal(saved["conv1.weight"], state["module.conv1.weight"])
    assert torch.equal(
        saved["layer1.0.bn1.running_mean"], state["module.layer1.0.bn1.running_mean"]
    )
    info = out.metrics["model_info"]
    assert info["trainable_parameters"] == 513 and out.metrics["pretrained"]["loaded"] > 0


def test_loss_optimizer_and_scheduler_choices():
    import torch

    from training.loop import make_criterion, make_optimizer, make_scheduler

    y = torch.tensor([0, 0, 0, 1])
    crit = make_criterion(2, y, True, torch.device("cpu"))
    assert isinstance(crit, torch.nn.BCEWithLogitsLoss) and float(crit.pos_weight) == 3.0
    multi = make_criterion(3, torch.tensor([0, 0, 1, 2]), True, torch.device("cpu"))
    assert isinstance(multi, torch.nn.CrossEntropyLoss) and multi.weight[0] < multi.weight[1]
    params = [torch.nn.Parameter(torch.zeros(2))]
    cfg = TrainConfig(optimizer="adamw", scheduler="cosine", epochs=10, warmup_epochs=1, lr=1.0)
    opt = make_optimizer(cfg, params)
    assert isinstance(opt, torch.optim.AdamW)
    cosine = make_scheduler(cfg, opt, steps_per_epoch=4)  # per optimizer step, with warm-up
    assert cosine.per_step
    lrs = []
    for _ in range(40):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        cosine.step()
    assert lrs[0] < lrs[3] < lrs[4] and max(lrs) == lrs[4] and lrs[-1] < 0.01  # up, then down
    opt = make_optimizer(cfg, params)
    one = make_scheduler(TrainConfig(scheduler="onecycle", epochs=10, lr=1.0), opt, 4)
    assert isinstance(one, torch.optim.lr_scheduler.OneCycleLR) and one.per_step
    step = make_scheduler(TrainConfig(scheduler="step", step_size=3), opt)
    assert isinstance(step, torch.optim.lr_scheduler.StepLR) and step.step_size == 3


def test_existing_run_id_is_refused(full_run):
    from medview.core.errors import MedviewError

    folder, _outcome, _ = full_run
    with pytest.raises(MedviewError, match="already exists"):
        run_training(_cfg(folder, run_id="full"))
