"""Run history's Export model… button and the Training menu's Apply to folder…, with the real
spawned job (each pays a torch import, hence slow)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from projects import make_image_project as make_project_2d

from medview.core.project import Project
from medview.ui.main_window import MainWindow
from medview.ui.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    from training.api import run_training
    from training.config import TrainConfig

    project = make_project_2d(tmp_path, 8, shape=(16, 16))
    folder = project.folder
    project.close()
    cfg = TrainConfig(
        project=str(folder), model="cnn_small", size=16, folds=2, epochs=1, batch_size=4,
        augment="none", run_id="r", cache=False, predict_unlabelled=False,
    )  # fmt: skip
    assert run_training(cfg).status == "finished"
    return folder


def test_export_button_and_apply_to_folder(qtbot, tmp_path: Path, trained: Path, monkeypatch):
    from PIL import Image as PILImage
    from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

    win = MainWindow(Settings())
    qtbot.addWidget(win)
    win.set_project(Project.open(trained))
    panel = win.training_panel
    actions = win.training.model_actions
    assert actions is not None
    history = panel.history
    history.refresh()
    history.select_runs(["r"])
    assert history.export_button.isEnabled()
    out = tmp_path / "exported"
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: ("ONNX (model.onnx)", True))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    history.export_button.click()
    assert actions.job is not None
    with qtbot.waitSignal(actions.job.ended, timeout=120_000) as ended:
        pass
    assert ended.args[0] == "finished", panel.status.text()
    assert (out / "model.onnx").is_file() and (out / "model.json").is_file()
    assert "Exported run r as onnx" in panel.status.text()

    images = tmp_path / "new"
    images.mkdir()
    PILImage.fromarray(np.full((16, 16), 9, np.uint8)).save(images / "x.png")
    (images / "bad.png").write_bytes(b"not an image")
    panel.use_run("r")
    csv_path = tmp_path / "pred.csv"
    job = actions.apply_to_folder(sources=[str(images)], out=str(csv_path))
    assert job is not None
    with qtbot.waitSignal(job.ended, timeout=120_000) as ended:
        pass
    assert ended.args[0] == "finished", panel.status.text()
    assert [r["name"] for r in csv.DictReader(csv_path.open())] == ["x"]
    assert "1 file(s) could not be read" in panel.status.text()
    (box,) = [b for b in panel.findChildren(QMessageBox) if b.windowTitle() == "Apply to folder"]
    assert box.isVisible() and "bad.png" in box.detailedText()  # which files, and why
    box.close()
    panel.shutdown()
    win.close_project()
