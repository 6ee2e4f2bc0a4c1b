"""ONNX / TorchScript export of a run's models, and `medview apply` on a folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from projects import make_project

from medview.core.project import Project
from training.api import run_training
from training.config import TrainConfig


def _trained(tmp_path: Path, kind: str) -> Project:
    project = make_project(tmp_path, 8, kind=kind, size=16, unlabelled=2)
    folder = project.folder
    project.close()
    model = "cnn_small" if kind == "2d" else "cnn3d_small"
    cfg = TrainConfig(
        project=str(folder), model=model, size=16, folds=2, epochs=1, batch_size=4,
        augment="none", run_id="r", cache=False,
    )  # fmt: skip
    assert run_training(cfg).status == "finished"
    return Project.open(folder)


def _engine(project: Project, fold: int | None = None):
    """The engine's own ensemble prediction (training.predict) for every item."""
    from training.data import load_items
    from training.loop import resolve_device
    from training.predict import ensemble_predict
    from training.run_models import load_run_models

    models = load_run_models(project, "r")
    items = project.items()
    probs, kept = ensemble_predict(
        project, models.run_dir, models.model_name, len(models.classes), models.prep.channels,
        models.prep, items, resolve_device("cpu"), 4, False,
        [fold] if fold else models.folds,
    )  # fmt: skip
    x = load_items(project, kept, models.prep, [], use_cache=False).x.numpy()
    return x, probs


@pytest.mark.parametrize("kind", ["2d", "3d"])
def test_onnx_and_torchscript_match_the_engine(tmp_path, kind):
    pytest.importorskip("onnxruntime")
    import onnxruntime

    from training.model_export import export_model

    with _trained(tmp_path, kind) as project:
        x, expected = _engine(project)
        onnx_files = export_model(project, "r", tmp_path / "onnx", "onnx")
        ts_files = export_model(project, "r", tmp_path / "ts", "torchscript")
        x1, expected1 = _engine(project, fold=1)
        fold_files = export_model(project, "r", tmp_path / "f1", "torchscript", fold=1)

    session = onnxruntime.InferenceSession(str(onnx_files[0]), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) < 1e-4
    scripted = torch.jit.load(str(ts_files[0]))
    with torch.no_grad():
        got_ts = scripted(torch.from_numpy(x)).numpy()
    assert np.max(np.abs(got_ts - expected)) < 1e-4
    with torch.no_grad():
        got_f1 = torch.jit.load(str(fold_files[0]))(torch.from_numpy(x1)).numpy()
    assert np.max(np.abs(got_f1 - expected1)) < 1e-4
    assert np.max(np.abs(got_f1 - expected)) > 0  # one fold is not the ensemble

    spec = json.loads(onnx_files[1].read_text())
    assert spec["classes"] == ["WT", "MUT"]
    assert spec["input"]["shape"] == ["batch", 1, *([16] * (2 if kind == "2d" else 3))]
    assert spec["preprocessing"]["size"] == 16
    assert spec["preprocessing"]["normalisation"]["type"] == "zscore_per_image"
    assert spec["verified"]["max_abs_difference"] < 1e-4
    assert json.loads(fold_files[1].read_text())["folds"] == [1]


def test_unknown_fold_is_refused(tmp_path):
    from training.model_export import export_model
    from training.run_models import RunModelError

    with _trained(tmp_path, "2d") as project, pytest.raises(RunModelError, match="no fold 7"):
        export_model(project, "r", tmp_path / "x", "torchscript", fold=7)


def test_apply_scores_a_folder_and_names_the_bad_file(tmp_path):
    from PIL import Image as PILImage

    from training.apply import apply_run

    folder = tmp_path / "new"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(3)
    for k in range(3):
        PILImage.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(
            folder / "sub" / f"n{k}.png"
        )
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    out = tmp_path / "out" / "predictions.csv"
    with _trained(tmp_path, "2d") as project:
        report = apply_run(project, "r", [folder], out)
        n_items = len(project.items())
    rows = list(csv.DictReader(out.open()))
    assert sorted(r["name"] for r in rows) == ["n0", "n1", "n2"]
    for r in rows:
        p = float(r["prob_WT"]) + float(r["prob_MUT"])
        assert abs(p - 1) < 1e-5 and r["predicted"] in ("WT", "MUT")
        assert Path(r["path"]).is_file()
    assert [Path(s.path).name for s in report.skipped] == ["broken.png"]
    assert report.skipped[0].reason
    with Project.open(tmp_path / "p") as project:
        assert len(project.items()) == n_items  # nothing was imported


def test_run_predictions_name_items_and_export_drops_names(tmp_path):
    from training.export import export_run

    with _trained(tmp_path, "2d") as project:
        rows = list(csv.DictReader((project.runs_dir / "r" / "predictions.csv").open()))
        names = {it.id: it.name for it in project.items()}
        export_run(project, "r", tmp_path / "share")
    assert rows and all(r["item_name"] == names[int(r["item_id"])] for r in rows)
    shared = (tmp_path / "share" / "predictions.csv").read_text()
    assert "item_name" not in shared and "i000.png" not in shared
    assert "item_id" in shared


def test_cli_export_format_and_apply(tmp_path, capsys):
    import argparse

    from PIL import Image as PILImage

    import training.cli_commands as cc

    def parse(adder, argv):
        parser = argparse.ArgumentParser()
        parser.add_argument("project")
        adder(parser)
        return parser.parse_args(argv)

    _trained(tmp_path, "2d").close()
    folder = str(tmp_path / "p")
    out = tmp_path / "ts"
    assert (
        cc.cmd_export(
            parse(
                cc.add_export_arguments,
                [folder, "--run", "r", "--out", str(out), "--format", "torchscript"],
            )  # fmt: skip
        )
        == 0
    )
    assert (out / "model.pt").is_file() and (out / "model.json").is_file()
    images = tmp_path / "imgs"
    images.mkdir()
    PILImage.fromarray(np.full((12, 12), 7, np.uint8)).save(images / "a.png")
    (images / "b.tif").write_bytes(b"II*\x00garbage")
    csv_path = tmp_path / "pred.csv"
    args = parse(cc.add_apply_arguments, [folder, "--run", "r", str(images), "--out",
                                          str(csv_path)])  # fmt: skip
    assert cc.cmd_apply(args) == 0
    captured = capsys.readouterr()
    assert "b.tif" in captured.err and "predicted 1 image(s)" in captured.out
    assert [r["name"] for r in csv.DictReader(csv_path.open())] == ["a"]
