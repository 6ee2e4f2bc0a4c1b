"""The window's training form can set every TrainConfig field, and `medview train` every one too.

The form is a table (medview/ui/training_fields.py). These tests walk TrainConfig's fields, so a
new engine option without a form entry (or a CLI flag) fails here with the field's name.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import pytest

from medview.ui.training_fields import BY_NAME, FIELDS, NOT_IN_FORM, Field
from medview.ui.training_form import TrainingForm
from training.cli_commands import add_train_arguments
from training.config import TrainConfig

# `medview train` flags that are not TrainConfig fields: how to run, not what to train.
CLI_ONLY = {"project", "json_progress", "config", "allow_download", "train_defaults"}


def _other_value(spec: Field, default: Any) -> Any:
    """A value for ``spec`` that differs from the TrainConfig default (and is valid)."""
    if spec.kind == "choice":
        values = [v for _, v in spec.choices if not _same(v, default)]
        return values[-1]
    if spec.kind == "bool":
        return not default
    if spec.kind == "int":
        return int(spec.lo) + 1 if default != int(spec.lo) + 1 else int(spec.lo) + 2
    if spec.kind == "number":
        return round(spec.lo + (spec.hi - spec.lo) / 3, spec.decimals)
    if spec.kind == "float":
        return 0.25 if default != 0.25 else 0.125
    if spec.kind == "pair":
        return (0.2, 0.1)
    if spec.kind == "optional_pair":
        return (40.0, 400.0)
    if spec.kind == "layers":
        return "last:3"
    if spec.kind in ("text", "path"):
        return "/data/weights.pth" if spec.kind == "path" else "my-run"
    raise AssertionError(f"{spec.name}: no test value for kind {spec.kind!r}")


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("project")
    add_train_arguments(parser)
    return parser


def test_every_trainconfig_field_has_a_form_entry_or_a_reason() -> None:
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    missing = [n for n in names if n not in BY_NAME and n not in NOT_IN_FORM]
    assert not missing, (
        f"TrainConfig field(s) {missing} cannot be set from the window: add a Field to "
        "FIELDS in medview/ui/training_fields.py (or, for a field that is not a user option, "
        "a reason to NOT_IN_FORM)"
    )
    assert set(BY_NAME) <= set(names), "form entries for fields TrainConfig does not have"
    assert all(reason.strip() for reason in NOT_IN_FORM.values())
    for spec in FIELDS:
        assert spec.tip and spec.label, spec.name


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(TrainConfig)])
def test_the_form_sets_each_field_and_reads_it_back(qtbot, name: str) -> None:
    if name in NOT_IN_FORM:
        pytest.skip(NOT_IN_FORM[name])
    form = TrainingForm()
    qtbot.addWidget(form)
    default = getattr(TrainConfig(), name)
    value = _other_value(BY_NAME[name], default)
    before = form.config()
    form.set_values({name: value})
    config = form.config()
    assert config[name] == value, f"{name}: set {value!r}, the form gives {config[name]!r}"
    assert config[name] != before[name], f"{name}: the form already held {value!r}"
    # The value survives the engine's own reading of the dict.
    cfg = TrainConfig.from_dict({"project": "p", **config})
    assert getattr(cfg, name) == (tuple(value) if isinstance(value, list) else value)


def test_a_full_config_round_trips_through_the_form(qtbot) -> None:
    form = TrainingForm()
    qtbot.addWidget(form)
    settings = {
        "model": "resnet18", "kind": "2d", "holdout": True, "holdout_fractions": (0.15, 0.15),
        "epochs": 12, "optimizer": "sgd", "lr": 3e-4, "momentum": 0.85, "scheduler": "step",
        "step_size": 7, "gamma": 0.1, "patience": 2, "min_epochs": 5, "early_stopping": "loss",
        "weight_decay": 0.0, "label_smoothing": 0.0, "warmup_epochs": 0, "seed": 7,
        "ct_window": (40.0, 400.0), "ema": False, "tta": True, "threads": 2,
    }  # fmt: skip
    form.set_values(settings)
    config = form.config()
    for key, value in settings.items():
        assert config[key] == value, key  # 0 is a value, not Auto
    TrainConfig.from_dict({"project": "p", **config}).validate()


def test_every_form_field_is_a_train_flag_and_every_flag_a_field() -> None:
    parser = _train_parser()
    flags = {s for action in parser._actions for s in action.option_strings}
    for spec in FIELDS:
        assert spec.cli_flag in flags, f"{spec.name}: no `medview train {spec.cli_flag}`"
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    unknown = dests - fields - CLI_ONLY
    assert not unknown, f"train flags that set no TrainConfig field: {unknown}"
    settable = fields - {"extra"}  # studies write extra; no flag sets it
    assert settable <= dests, f"TrainConfig fields with no train flag: {settable - dests}"


def test_fields_that_need_another_setting_follow_it(qtbot) -> None:
    form = TrainingForm()
    qtbot.addWidget(form)
    gamma = form.editors["gamma"].widget
    form.set_values({"scheduler": "cosine"})
    assert not gamma.isEnabled()
    form.set_values({"scheduler": "step"})
    assert gamma.isEnabled()
    fractions = form.editors["holdout_fractions"].widget
    assert not fractions.isEnabled() and form.editors["folds"].widget.isEnabled()
    form.set_values({"holdout": True})
    assert fractions.isEnabled() and not form.editors["folds"].widget.isEnabled()


def test_a_typo_in_a_number_is_marked_and_never_reaches_the_engine(qtbot) -> None:
    form = TrainingForm()
    qtbot.addWidget(form)
    edit = form.editors["weight_decay"].widget
    edit.setValidator(None)  # as if pasted past the validator
    edit.setText("1e-4x")
    assert form.config()["weight_decay"] is None
    assert form.problems() == ["Weight decay: not a number"]
    edit.setText("1e-4")
    assert form.config()["weight_decay"] == pytest.approx(1e-4) and not form.problems()


def test_the_cli_reads_the_new_flags(tmp_path) -> None:
    from training.cli_commands import config_from_args

    args = _train_parser().parse_args(
        [str(tmp_path), "--holdout", "--holdout-fractions", "0.2", "0.1", "--gamma", "0.5",
         "--momentum", "0.8", "--early-stopping", "loss", "--kind", "2d"]
    )  # fmt: skip
    cfg = config_from_args(args)
    assert cfg.holdout_fractions == (0.2, 0.1) and cfg.gamma == 0.5 and cfg.momentum == 0.8
    assert cfg.early_stopping == "loss" and cfg.kind == "2d"
    cfg.validate()


def test_a_typo_stops_the_run_in_the_plan_check(qtbot, tmp_path) -> None:
    from projects import make_project

    from medview.ui.main_window import MainWindow
    from medview.ui.settings import Settings

    win = MainWindow(Settings())
    qtbot.addWidget(win)
    win.set_project(make_project(tmp_path, n=12))
    panel = win.training_panel
    panel.form.set_values({"model": "cnn3d_small", "folds": 2})
    assert panel.check().ok
    edit = panel.form.editors["lr"].widget
    edit.setValidator(None)
    edit.setText("1e-3x")
    plan = panel.check()
    assert not plan.ok and plan.errors[0] == "Learning rate: not a number"
    assert not panel.start()
    win.close_project()
