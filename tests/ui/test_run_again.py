"""Run history's "Run again": an interrupted run's config.json goes back into the training
form and a new run (new id, REAL worker process) starts and finishes with those settings;
a missing or corrupt config.json gives a message box, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from projects import make_volume_project as make_project

from medview.core.project import Project
from medview.ui import run_again
from medview.ui.main_window import MainWindow
from medview.ui.settings import Settings
from medview.ui.training_panel import TrainingPanel

OLD = "20240101-000000-old"
SETTINGS = {
    "model": "cnn3d_small",
    "epochs": 1,
    "folds": 2,
    "holdout": False,
    "batch_size": 3,
    "lr": 0.002,
    "size": 16,
    "augment": "flip_x=0.9,rotate=15",  # named parameters: typed into the form's box
    "class_weights": True,
    "train_layers": "all",
    "patience": 3,
    "device": "cpu",
    "seed": 7,  # not in the form: still used by the new run
}


def _interrupted_run(project: Project, config: dict | str | None) -> None:
    """A run row marked interrupted, with ``config`` as its config.json (None: no file)."""
    project.create_run(OLD, {"model": "cnn3d_small"}, model="cnn3d_small")
    project.finish_run(OLD, "interrupted", message="the process was killed")
    path = project.runs_dir / OLD / "config.json"
    if config is not None:
        path.write_text(config if isinstance(config, str) else json.dumps(config))


@pytest.fixture
def window(qtbot, tmp_path: Path):
    project = make_project(tmp_path)
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    win.show()
    win.set_project(project)
    win.training_panel.session.overrides = {"threads": 1}
    yield win
    win.training_panel.shutdown()
    win.close_project()


def _select_old(panel: TrainingPanel) -> None:
    panel.history.refresh()
    panel.history.select_runs([OLD])
    assert panel.history.rerun_button.isEnabled()


def test_run_again_loads_the_settings_and_starts_a_new_run(qtbot, window: MainWindow) -> None:
    panel: TrainingPanel = window.training_panel
    project = window.project
    assert project is not None
    foreign = {"project": "/elsewhere.medview", "run_id": OLD, "resolved": {"kind": "3d"}}
    _interrupted_run(project, {**SETTINGS, **foreign, "an_option_from_the_future": 1})
    _select_old(panel)

    with qtbot.waitSignal(panel.runStarted, timeout=60_000) as started:
        panel.history.rerun_button.click()
    new_id = started.args[0]
    form = panel.form.config()
    for key in ("model", "epochs", "folds", "holdout", "batch_size", "size", "augment"):
        assert form[key] == SETTINGS[key], key
    assert form["lr"] == pytest.approx(0.002)
    assert form["class_weights"] and form["patience"] == 3 and form["device"] == "cpu"
    assert form["pretrained"] is None and form["train_layers"] == "all"  # the form's defaults
    assert "seed" not in panel.session.overrides  # only for that start

    with qtbot.waitSignal(panel.runEnded, timeout=90_000) as ended:
        pass
    assert ended.args == ["finished", new_id], panel.status.text()
    assert new_id != OLD
    assert project.get_run(OLD).status == "interrupted"  # the old run stays
    assert {r.id for r in panel.history.runs} >= {OLD, new_id}
    used = json.loads((project.runs_dir / new_id / "config.json").read_text())
    for key, value in SETTINGS.items():
        assert used[key] == pytest.approx(value) if key == "lr" else used[key] == value, key
    assert used["project"] == str(project.folder)
    metrics = json.loads((project.runs_dir / new_id / "metrics.json").read_text())
    assert len(metrics["folds"]) == 2


@pytest.mark.parametrize("config", [None, "{not json", json.dumps({"epochs": "ten"}), "[1]"])
def test_missing_or_corrupt_config_gives_a_message(
    qtbot, window: MainWindow, monkeypatch: pytest.MonkeyPatch, config: str | None
) -> None:
    panel: TrainingPanel = window.training_panel
    assert window.project is not None
    _interrupted_run(window.project, config)
    panel.form.set_values({"epochs": 5})
    shown: list[str] = []
    monkeypatch.setattr(
        run_again.QMessageBox, "warning", lambda _parent, _title, text: shown.append(text)
    )
    _select_old(panel)
    panel.history.rerun_button.click()
    assert len(shown) == 1 and OLD in shown[0] and "config.json" in shown[0]
    assert panel.bridge is None  # nothing started
    assert panel.form.config()["epochs"] == 5  # the form is untouched
    assert [r.id for r in window.project.runs()] == [OLD]
