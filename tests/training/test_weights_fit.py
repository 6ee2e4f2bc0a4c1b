"""The plan check says a pretrained file does not fit the chosen model before the run starts
(it said "ready", and the engine refused the file once training had begun), reading only the
file's tensor names: safetensors headers and torch pickles, MedicalNet's legacy wrapper too."""

from __future__ import annotations

import pytest
import torch
from projects import make_project
from safetensors.torch import save_file

from training.engine.models import build_model
from training.engine.weights import WeightsError, load_pretrained
from training.recipe.plan import check_plan
from training.recipe.weights_fit import tensor_names

BASE = {"epochs": 1, "folds": 2}


def test_a_file_for_another_architecture_is_an_error_of_the_plan_check(tmp_path) -> None:
    project = make_project(tmp_path, n=12, kind="2d")
    small = build_model("cnn_small", 2, 1).state_dict()
    weights = tmp_path / "cnn.safetensors"
    save_file({k: v.contiguous() for k, v in small.items()}, str(weights))
    plan = check_plan(project, {**BASE, "model": "resnet18", "pretrained": str(weights)})
    assert not plan.ok and "ready" not in plan.text()
    assert "cnn.safetensors does not fit resnet18" in plan.errors[0]
    with pytest.raises(WeightsError, match="does not fit resnet18"):
        load_pretrained(build_model("resnet18", 2, 3), "resnet18", weights)  # as the engine
    fits = check_plan(project, {**BASE, "model": "cnn_small", "pretrained": str(weights)})
    assert fits.ok, fits.errors


def test_torch_files_are_read_by_their_names_only(tmp_path) -> None:
    state = build_model("medicalnet_resnet10", 2, 1).state_dict()
    wrapped = {"state_dict": {f"module.{k}": v for k, v in state.items()}}  # as MedicalNet's
    legacy, current = tmp_path / "legacy.pth", tmp_path / "current.pth"
    torch.save(wrapped, legacy, _use_new_zipfile_serialization=False)
    torch.save(wrapped, current)
    assert tensor_names(legacy) == tensor_names(current) == list(state)
    evil = tmp_path / "evil.pth"
    torch.save({"x": torch.zeros(1), "f": print}, evil)  # a global that is not a tensor
    assert tensor_names(evil) is None  # refused unread: the engine's load says why
