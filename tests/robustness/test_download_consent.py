"""A config.json from someone else with ``"pretrained": "download"`` made a network call
(issue 10). ``medview train --config`` needs ``--allow-download`` (else a clear refusal,
before any run starts) and the window's "Run again" asks first. The download itself is
replaced by a recorder: any call to it is the network call the user did not ask for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medview.core.project import Project

pytest.importorskip("torch")

TINY = {
    "model": "cnn3d_small",
    "size": 16,
    "folds": 2,
    "batch_size": 4,
    "augment": "none",
    "threads": 1,
    "device": "cpu",
    "epochs": 1,
    "predict_unlabelled": False,
}


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every download attempt and fails it (these machines are offline anyway)."""
    from training import weights

    calls: list[str] = []

    def recorder(model, model_name):  # noqa: ANN001
        calls.append(model_name)
        raise weights.WeightsError("download attempted (test recorder)")

    monkeypatch.setattr(weights, "_download", recorder)
    return calls


def _foreign_config(tmp_path: Path) -> Path:
    path = tmp_path / "from-a-colleague" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**TINY, "pretrained": "download", "project": "/elsewhere"}))
    return path


def test_train_config_asking_for_a_download_is_refused_without_the_flag(
    tmp_path: Path, downloads: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from test_crash import _training_project

    from medview.cli import main

    folder = _training_project(tmp_path)
    config = _foreign_config(tmp_path)
    assert main(["train", str(folder), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert downloads == []  # no network call
    assert err.count("\n") == 1 and "--allow-download" in err and "config.json" in err, err
    with Project.open(folder) as p:
        assert p.runs() == []  # refused before a run was made


def test_train_config_downloads_only_with_the_flag_or_an_explicit_pretrained(
    tmp_path: Path, downloads: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from test_crash import _training_project

    from medview.cli import main

    folder = _training_project(tmp_path)
    config = _foreign_config(tmp_path)
    main(["train", str(folder), "--config", str(config), "--allow-download"])
    assert downloads == ["cnn3d_small"]
    main(["train", str(folder), "--config", str(config), "--pretrained", "download"])
    assert downloads == ["cnn3d_small"] * 2  # typed by the user: that is asking
    capsys.readouterr()


# ---------------------------------------------------------------------------- the window
OLD = "20240101-000000-old"


@pytest.fixture
def window(qtbot, tmp_path: Path):
    from projects import make_volume_project as make_project

    from medview.ui.main_window import MainWindow
    from medview.ui.settings import Settings

    project = make_project(tmp_path, n=4, unlabelled=0)
    project.create_run(OLD, {"model": "cnn3d_small"}, model="cnn3d_small")
    project.finish_run(OLD, "interrupted")
    (project.runs_dir / OLD / "config.json").write_text(
        json.dumps({**TINY, "pretrained": "download"})
    )
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    win.set_project(project)
    yield win
    win.close_project()


@pytest.mark.parametrize("answer", ["cancel", "without", "download"])
def test_run_again_asks_before_a_download(
    window, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    from medview.ui import run_again

    panel = window.training_panel
    asked: list[str] = []
    started: list[dict] = []
    monkeypatch.setattr(
        run_again,
        "ask_download",
        lambda parent, run_id: asked.append(run_id) or answer,
        raising=False,
    )
    monkeypatch.setattr(
        panel, "start", lambda once=None: started.append(panel.config(once)) or True
    )
    result = run_again.run_again(panel, OLD)
    assert asked == [OLD]
    if answer == "cancel":
        assert result is False and started == []
    elif answer == "without":
        assert result is True and started and not started[0].get("pretrained")
    else:
        assert result is True and started[0].get("pretrained") == "download"
