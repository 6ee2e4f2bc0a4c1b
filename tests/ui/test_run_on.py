"""The training panel's "Run on": a run on worker processes (a LocalCluster) trains the
project with the live plots of a local run; the choice is kept per project; a plain tcp://
to another computer is refused before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import make_volume_project as make_project

from medview.ui.main_window import MainWindow
from medview.ui.run_on import RunOnBox
from medview.ui.settings import Settings
from medview.ui.training_panel import TrainingPanel

pytest.importorskip("distributed")
TINY = {"model": "cnn3d_small", "epochs": 2, "folds": 2, "batch_size": 4, "size": 16}


@pytest.fixture
def window(qtbot, tmp_path: Path):
    project = make_project(tmp_path)
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    win.show()
    win.set_project(project)
    panel: TrainingPanel = win.training_panel
    panel.form.set_values({**TINY, "augment": "none"})
    panel.session.overrides = {"threads": 1}
    yield win
    panel.shutdown()
    win.close_project()


@pytest.mark.slow  # the window's worker process starts two Dask worker processes
def test_run_on_worker_processes_trains_with_live_plots(qtbot, window: MainWindow) -> None:
    panel: TrainingPanel = window.training_panel
    panel.run_on.box.setCurrentText("local-cluster:2")
    assert panel.start()
    logs: list[str] = []
    assert panel.bridge is not None
    panel.bridge.message.connect(lambda m: logs.append(m.text) if m.type == "log" else None)
    with qtbot.waitSignal(panel.runEnded, timeout=240_000) as ended:
        pass
    assert ended.args[0] == "finished", panel.status.text()
    assert any("to the cluster in" in text for text in logs)  # it did go to Dask
    plots = panel.plots
    assert set(plots.history) == {1, 2} and all(len(v) == 2 for v in plots.history.values())
    assert plots.table.rowCount() == 3 and panel.progress.value() == 1000


def test_run_on_is_kept_per_project(qtbot, tmp_path: Path) -> None:
    settings = Settings()
    box = RunOnBox(settings)
    qtbot.addWidget(box)
    box.set_project(tmp_path / "a.medview")
    assert box.value() == "local"  # this computer at first
    box.box.setCurrentText("tcp://127.0.0.1:8786")
    box.set_project(tmp_path / "b.medview")
    assert box.value() == "local"
    again = RunOnBox(settings)
    qtbot.addWidget(again)
    again.set_project(tmp_path / "a.medview")
    assert again.value() == "tcp://127.0.0.1:8786"


def test_plain_tcp_to_another_computer_is_refused_before_a_run(qtbot, window) -> None:
    panel: TrainingPanel = window.training_panel
    panel.run_on.box.setCurrentText("tcp://192.0.2.7:8786")
    assert not panel.start()
    assert panel.bridge is None
    assert "ssh -N -L 8786:localhost:8786" in panel.plan_label.text()
