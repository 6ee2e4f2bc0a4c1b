"""Auto (training/recipe/auto.py, docs/auto.md), the automatic batch size, the decision threshold
and
temperature scaling: the rules on fixed inputs, the probe with a fake step, hand computations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from training.engine.batch_size import choose_batch_size, data_cap
from training.recipe.auto import auto_epochs, auto_settings, profile_items
from training.recipe.calibration import (
    apply_temperature,
    choose_threshold,
    expected_calibration_error,
    fit_calibration,
    fit_temperature,
)
from training.recipe.config import TrainConfig


@dataclass
class FakeItem:
    shape: tuple[int, ...]
    label: str


def _items(n: int, shape: tuple[int, ...], classes=("WT", "MUT"), weights=None):
    weights = weights or [1] * len(classes)
    labels = [c for c, w in zip(classes, weights, strict=True) for _ in range(w)]
    return [FakeItem(shape, labels[i % len(labels)]) for i in range(n)]


# ---------------------------------------------------------------------- the Auto plan
def test_auto_plan_for_a_tiny_grey_2d_set_matches_the_docs():
    items = _items(60, (1, 28, 28))
    profile = profile_items(items, ["WT", "MUT"], "2d")
    plan = auto_settings(TrainConfig(), profile, "cpu")
    v = plan.values
    assert v["model"] == "cnn_small"
    assert v["size"] == 64  # 28 px is upsampled to 64 px
    assert v["augment"] == "light"  # grey: left-right flips and small rotations only
    assert (v["optimizer"], v["scheduler"], v["lr"]) == ("adamw", "cosine", 3e-3)
    assert v["label_smoothing"] == 0.0 and v["ema"] is True and v["tta"] is True
    assert "class_weights" not in v  # balanced classes
    auto_epochs(TrainConfig(), 48, 8, plan, warmup_given=False, macs=14.7e6)
    # standard: 8e11 / (14.7e6 MACs x 48 items) = 1133 epochs of work -> the ceiling 60;
    # warm-up 10 % = 6, patience a quarter = 15
    assert plan.values["epochs"] == 60 and plan.values["warmup_epochs"] == 6
    assert plan.values["patience"] == 15
    assert plan.values["min_epochs"] == 20  # no stopping before 120 steps (6 a epoch)
    assert all(plan.reasons[k] for k in plan.values)


def test_class_weighting_can_be_turned_off_under_auto():
    """On BCCD (69:1) Auto's weighting pulled the arg-max to the rare classes (accuracy 0.27;
    docs/auto.md), yet ``class_weights=False`` changed nothing: False was the default, read as
    "not set". None is Auto's now; a given False or True stays."""
    from training.recipe.arguments import add_train_arguments, config_from_args

    items = _items(40, (24, 48, 48), weights=[3, 1])  # 3:1 imbalance
    profile = profile_items(items, ["WT", "MUT"], "3d")
    assert auto_settings(TrainConfig(), profile, "cpu").values["class_weights"] is True
    off = auto_settings(TrainConfig(class_weights=False), profile, "cpu")
    assert "class_weights" not in off.values
    assert TrainConfig(class_weights=False).with_defaults().class_weights is False
    assert TrainConfig(auto=False).with_defaults().class_weights is False
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("project")
    add_train_arguments(parser)
    for flags, expected in (
        ([], None),
        (["--class-weights"], True),
        (["--no-class-weights"], False),
    ):
        assert config_from_args(parser.parse_args(["p", *flags])).class_weights is expected


def test_auto_plan_for_a_3d_set_matches_the_docs():
    items = _items(40, (24, 48, 48), weights=[3, 1])  # 3:1 imbalance
    profile = profile_items(items, ["WT", "MUT"], "3d")
    plan = auto_settings(TrainConfig(), profile, "cpu")
    v = plan.values
    assert v["model"] == "cnn3d_small"
    assert v["size"] == 32  # 48 rounded to 16 = 48, capped at 32 on the CPU
    assert v["augment"] == "none"  # no 3D preset has earned its place (docs/auto.md)
    assert v["lr"] == 6e-3  # the 3D peak rate: twice the 2D one
    assert v["class_weights"] is True  # 3:1 reaches the weighting rule
    cuda = auto_settings(TrainConfig(), profile, "cuda").values
    assert cuda["size"] == 48  # the CUDA cap (96) leaves the median extent
    assert v["early_stopping"] == "loss"  # the kept epoch: lowest validation loss
    quick = TrainConfig(effort="quick")
    auto_epochs(quick, 27, 4, plan, warmup_given=False, macs=113e6)
    # 1e11 / (113e6 x 27) = 32 epochs of work -> the quick ceiling 20 (>= 120 steps: 18)
    assert plan.values["epochs"] == 20
    quick_plan = auto_settings(quick, profile, "cpu").values
    assert quick_plan["size"] == 32 and quick_plan["early_stopping"] == "loss"


def test_auto_plan_for_a_slice_mode_set_matches_the_docs():
    # --slices: a 2D model on the slices of volumes; the profile keeps the volumes' shape
    items = _items(30, (24, 48, 48))
    profile = profile_items(items, ["WT", "MUT"], "slices")
    v = auto_settings(TrainConfig(), profile, "cpu").values
    assert v["model"] == "cnn_small"  # a 2D model, not cnn3d_small
    assert v["size"] == 48  # the 2D rule on the in-plane side (48 px: no upsampling)
    assert v["augment"] == "light"  # grey 2D slices: left-right flips, small rotations
    assert v["early_stopping"] == "loss"
    tiny = profile_items(_items(30, (40, 28, 28)), ["WT", "MUT"], "slices")
    assert auto_settings(TrainConfig(), tiny, "cpu").values["size"] == 64  # 28 px -> 64


def test_auto_plan_multiclass_rgb_and_given_settings_win():
    items = _items(300, (1, 200, 300, 3), classes=("a", "b", "c"))
    profile = profile_items(items, ["a", "b", "c"], "2d")
    cfg = TrainConfig(augment="none", model="cnn_small", epochs=10)
    plan = auto_settings(cfg, profile, "cpu")
    assert plan.values["label_smoothing"] == 0.1
    assert plan.values["size"] == 128  # 300 px median side, CPU cap
    for given in ("epochs", "augment", "model"):
        assert given not in plan.values and given in plan.given
    rgb = auto_settings(TrainConfig(), profile, "cpu").values
    assert rgb["augment"] == "strong"  # colour microscopy: orientation-free


@pytest.mark.parametrize("named", [{"optimizer": "adam"}, {"lr": 1e-3}, {"scheduler": "step"}])
def test_a_named_optimiser_lr_or_schedule_keeps_autos_recipe_parts_off(named):
    """ "Adam 1e-3, StepLR(7, 0.1)" is that: no weight decay, EMA, TTA, label smoothing or
    warm-up added unannounced; what the user sets too still wins."""
    items = _items(300, (1, 64, 64), classes=("a", "b", "c"))
    profile = profile_items(items, ["a", "b", "c"], "2d")
    plan = auto_settings(TrainConfig(**named), profile, "cpu")
    off = {"weight_decay": 0.0, "ema": False, "tta": False, "label_smoothing": 0.0}
    assert {k: plan.values[k] for k in off} == off
    assert "you set the" in plan.reasons["ema"]
    auto_epochs(TrainConfig(**named), 200, 16, plan, warmup_given=False, macs=1e6)
    assert plan.values["warmup_epochs"] == 0
    chosen = auto_settings(TrainConfig(**named, ema=True, weight_decay=1e-4), profile, "cpu")
    assert "ema" not in chosen.values and "weight_decay" not in chosen.values
    recipe = auto_settings(TrainConfig(), profile, "cpu").values  # nothing named: the recipe
    assert recipe["weight_decay"] == 0.05 and recipe["ema"] and recipe["label_smoothing"] == 0.1


# ---------------------------------------------------------------------- batch size
def test_auto_batch_size_respects_a_small_memory_budget():
    calls = []

    def step(bs):  # throughput grows with the batch: without a bound the probe goes high
        calls.append(bs)
        return bs / (10.0 * bs**0.5)

    per_sample = 10 * 2**20  # 10 MiB per sample
    choice = choose_batch_size(
        step,
        device_type="cpu",
        n_train=10_000,
        kind="2d",
        per_sample_bytes=per_sample,
        budget_bytes=100 * 2**20,  # 100 MiB: at most 10 samples -> 8
    )
    assert choice.batch_size * per_sample <= 100 * 2**20
    assert choice.batch_size == 8 and max(calls) == 8
    assert "memory" in choice.reason


def test_cpu_probe_picks_the_smallest_size_near_the_best_throughput():
    rates = {4: 50.0, 8: 85.0, 16: 100.0, 32: 101.0, 64: 60.0}
    choice = choose_batch_size(
        lambda bs: bs / rates[bs], device_type="cpu", n_train=100_000, kind="2d"
    )
    assert choice.batch_size == 16  # 85 < 0.9 * 101 = 90.9 <= 100
    assert 64 in choice.samples_per_second  # probed, then stopped (60 < 0.7 * 101)
    assert 128 not in choice.samples_per_second


def test_cuda_probe_takes_the_largest_size_that_fits_capped_by_the_data():
    class FakeOOM(RuntimeError):
        pass

    def step(bs):
        if bs > 32:
            raise FakeOOM("CUDA out of memory")
        return 0.01

    fits = choose_batch_size(
        step, device_type="cuda", n_train=100_000, kind="2d", is_oom=lambda e: "memory" in str(e)
    )
    assert fits.batch_size == 32
    small = choose_batch_size(
        step, device_type="cuda", n_train=40, kind="2d", is_oom=lambda e: "memory" in str(e)
    )
    assert small.batch_size == data_cap(40, "2d") == 8  # >= 4 steps per epoch on 40 items


# ---------------------------------------------------------------------- threshold
def test_youden_threshold_on_fixed_oof_predictions_equals_a_hand_computation():
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    p = [0.10, 0.30, 0.35, 0.60, 0.40, 0.70, 0.80, 0.90]
    # By hand, thresholds between consecutive scores (predict positive at p >= t):
    #   t=0.375 (between .35 and .40): TPR 4/4, FPR 1/4 -> J = 0.75
    #   t=0.50  (between .40 and .60): TPR 3/4, FPR 1/4 -> J = 0.50
    #   t=0.65  (between .60 and .70): TPR 3/4, FPR 0/4 -> J = 0.75
    # Two maxima; the rule takes the one nearest 0.5: |0.375-0.5| = 0.125 < |0.65-0.5| = 0.15.
    t, sens, spec = choose_threshold(y, p)
    assert t == pytest.approx(0.375)
    assert (sens, spec) == (1.0, 0.75)
    # Target recall 0.75: the highest threshold keeping 3 of 4 positives is 0.65.
    t, sens, spec = choose_threshold(y, p, target_recall=0.75)
    assert t == pytest.approx(0.65) and sens == 0.75 and spec == 1.0
    t, sens, _ = choose_threshold(y, p, target_recall=0.9)
    assert t == pytest.approx(0.375) and sens == 1.0


# ---------------------------------------------------------------------- calibration
def _overconfident(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    true_logit = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 1.5, n)  # ~70 % accurate
    z = 6.0 * true_logit  # the model's logits are six times too large
    p = 1 / (1 + np.exp(-z))
    return np.stack([1 - p, p], axis=1), y


def test_temperature_scaling_lowers_the_calibration_error_of_overconfident_logits():
    probs, y = _overconfident()
    before = expected_calibration_error(probs, y)
    t = fit_temperature(probs, y)
    after = expected_calibration_error(apply_temperature(probs, t), y)
    assert t > 2.0  # softens
    assert before > 0.15 and after < before / 2
    cal = fit_calibration(probs, y)
    assert cal.ece_after < cal.ece_before
    # Ranking (and so the AUC) is unchanged, and 0.5 stays 0.5 for a binary model.
    calibrated = cal.apply(probs)
    order = np.argsort(probs[:, 1], kind="stable")
    assert (np.diff(calibrated[order, 1]) >= 0).all()


def test_expected_calibration_error_by_hand():
    probs = np.array([[0.1, 0.9], [0.2, 0.8], [0.85, 0.15], [0.3, 0.7]])
    y = np.array([1, 0, 0, 1])
    # Bins of width 0.1 on the top-class confidence: 0.9 -> bin (0.8, 0.9], 0.8 -> (0.7, 0.8],
    # 0.85 -> (0.8, 0.9], 0.7 -> (0.6, 0.7].
    # (0.8, 0.9]: confidences 0.9, 0.85, both right -> |1 - 0.875| = 0.125, weight 2/4
    # (0.7, 0.8]: 0.8 wrong -> 0.8, weight 1/4;  (0.6, 0.7]: 0.7 right -> 0.3, weight 1/4
    expected = 0.5 * 0.125 + 0.25 * 0.8 + 0.25 * 0.3
    assert expected_calibration_error(probs, y) == pytest.approx(expected)


def test_effort_is_training_work_so_a_large_set_gets_fewer_epochs_never_below_the_floor():
    from training.recipe.auto import AutoPlan

    epochs = {}
    for effort in ("quick", "standard", "thorough"):
        plan = AutoPlan()
        auto_epochs(TrainConfig(effort=effort), 4000, 32, plan, False, macs=14.7e6)
        epochs[effort] = plan.values["epochs"]
    # 5.9e10 MACs x samples an epoch: quick 1 -> floor 10; standard 13 -> floor 15;
    # thorough 54 within 20-120
    assert epochs == {"quick": 10, "standard": 15, "thorough": 54}
    assert TrainConfig.from_dict({"quick": True}).effort == "quick"  # older config.json


@dataclass
class _Inputs:  # what split_sizes / epoch_share read of training.engine.run_context.RunInputs
    cfg: TrainConfig
    items: list
    classes: tuple[str, ...] = ("a", "WT", "MUT")


@dataclass
class SplitItem:
    label: str
    split: str | None = None


def test_the_size_estimate_counts_marked_val_items_as_the_holdouts_validation():
    from training.engine.run_auto import split_sizes

    items = [SplitItem("a")] * 80 + [SplitItem("a", "val")] * 10 + [SplitItem("a", "test")] * 30
    assert split_sizes(_Inputs(TrainConfig(holdout=True), items)) == (1, 80, 10, 30)
    unmarked = [SplitItem("a")] * 90 + [SplitItem("a", "test")] * 30
    folds, train, val, test = split_sizes(_Inputs(TrainConfig(holdout=True), unmarked))
    assert test == 30 and val == round(90 * TrainConfig().holdout_fractions[1])
    assert train == 90 - val
    assert split_sizes(_Inputs(TrainConfig(folds=5), [SplitItem("a")] * 50)) == (5, 40, 10, 0)


def test_an_undersampled_epoch_counts_only_the_items_it_draws():
    from training.engine.run_auto import epoch_share

    items = [SplitItem("WT")] * 90 + [SplitItem("MUT")] * 30 + [SplitItem("MUT", "test")] * 50
    # 30 MUT outside the test split: an epoch draws 30 + 30 of the 120 training items
    assert epoch_share(_Inputs(TrainConfig(sampler="undersample"), items)) == 0.5
    assert epoch_share(_Inputs(TrainConfig(), items)) == 1.0
    plan = _plan_epochs(n_train=round(120 * 0.5))
    assert plan.values["epochs"] == 15  # >= 120 steps at 8 steps/epoch: 60 items, not 120


def _plan_epochs(n_train: int):
    from training.recipe.auto import AutoPlan

    plan = AutoPlan()
    auto_epochs(TrainConfig(effort="quick"), n_train, 8, plan, warmup_given=False, macs=1e9)
    return plan


def test_no_auto_is_a_protocol_without_augmentation_unless_set():
    plain = TrainConfig(auto=False).with_defaults()
    assert plain.augment == "none" and plain.weight_decay == 0.0 and not plain.ema
    assert TrainConfig(auto=False, augment="light").with_defaults().augment == "light"


def test_the_plan_check_lists_every_setting_auto_chooses(tmp_path):
    from projects import make_project

    from training.recipe.plan import check_plan

    project = make_project(tmp_path, n=12, kind="2d")
    protocol = {"model": "cnn_small", "optimizer": "adam", "lr": 1e-3, "scheduler": "step"}
    plan = check_plan(project, {**protocol, "folds": 2})
    chosen = {line.split(" = ")[0]: line for line in plan.auto_chosen}
    assert {"size", "augment", "weight_decay", "ema", "tta", "label_smoothing"} <= set(chosen)
    assert not {"model", "optimizer", "lr", "scheduler"} & set(chosen)  # the user's own
    assert chosen["ema"].startswith("ema = False  (off: you set the optimizer and lr")
    assert (
        "Auto chooses (not set by you):" in plan.text() and "batch size and epochs" in plan.text()
    )
    manual = check_plan(project, {**protocol, "folds": 2, "auto": False})
    assert manual.auto_chosen == [] and "Auto chooses" not in manual.text()
    project.close()


@pytest.mark.slow  # ~40 s on the shared 2-core CPU (two plans, each with its warm-up model)
def test_the_same_project_and_effort_give_the_same_plan_on_a_device_three_times_slower(
    tmp_path, monkeypatch
):
    """Issue 25: a busy machine makes a run slower, never different. The warm-up steps take
    0.1 s an item idle, 3x that busy (as beside two CPU hogs on 2 cores): model, size, batch
    size, epochs and learning rate stay; only the estimate grows. (Before: the busy run got
    fewer epochs to fit a wall-clock budget.)"""
    import training.engine.timing as timing
    from tests.projects import make_image_project
    from training.engine.ddp import Dist
    from training.engine.run_auto import finish_auto
    from training.engine.run_context import Reporter
    from training.engine.run_setup import choose_inputs

    project = make_image_project(tmp_path, n=40)
    real = timing._trainer

    def plan(slowdown: float):
        def slow(run, data):
            _step, model = real(run, data)
            return (lambda bs: slowdown * 0.1 * bs), model

        monkeypatch.setattr(timing, "_trainer", slow)
        cfg = TrainConfig(project=str(project.folder), device="cpu", threads=1)
        inputs, _ = choose_inputs(cfg, project, Dist(), Reporter(None, True), lambda: False, 0.0)
        cfg, estimate, _ = finish_auto(inputs)
        keys = ("batch_size", "epochs", "lr", "patience", "warmup_epochs")
        chosen = {k: getattr(cfg, k) for k in keys}
        return {"model": inputs.model_name, "size": inputs.size, **chosen}, estimate["seconds"]

    idle, idle_seconds = plan(1.0)
    busy, busy_seconds = plan(3.0)
    assert idle == busy
    assert busy_seconds == pytest.approx(3 * idle_seconds, rel=0.01)  # only the estimate
