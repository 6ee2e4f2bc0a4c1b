"""A relative --pretrained path is stored absolute in config.json, so the run can be repeated
(`--config`, the window's Run again) from any folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from projects import make_project

from medview.cli import main as cli_main
from training.config import TrainConfig

TINY = ["--model", "cnn3d_small", "--size", "16", "--epochs", "1", "--folds", "2",
        "--batch-size", "4", "--threads", "1", "--device", "cpu", "--no-predict"]  # fmt: skip


def test_a_relative_weights_path_becomes_absolute(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = TrainConfig(pretrained="weights/w.pth")
    assert cfg.pretrained == str(tmp_path / "weights" / "w.pth")
    assert TrainConfig(pretrained="download").pretrained == "download"
    again = TrainConfig.from_dict(cfg.to_dict())
    monkeypatch.chdir(Path("/"))
    assert TrainConfig.from_dict(again.to_dict()).pretrained == cfg.pretrained


@pytest.mark.slow
def test_run_again_from_another_folder_finds_the_weights(tmp_path, monkeypatch) -> None:
    from safetensors.torch import save_file

    from training.models import build_model

    project = make_project(tmp_path, n=8)
    folder = project.folder
    project.close()
    here = tmp_path / "where-i-was"
    here.mkdir()
    state = build_model("cnn3d_small", 2).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(here / "w.safetensors"))
    monkeypatch.chdir(here)
    assert cli_main(["train", str(folder), *TINY, "--pretrained", "w.safetensors"]) == 0
    (first,) = (folder / "runs").iterdir()
    config = json.loads((first / "config.json").read_text())
    assert config["pretrained"] == str(here / "w.safetensors")

    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    argv = ["train", str(folder), "--config", str(first / "config.json"), "--run-id", "again"]
    assert cli_main(argv) == 0
    metrics = json.loads((folder / "runs" / "again" / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["pretrained"]["loaded"] > 0
