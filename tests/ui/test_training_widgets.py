"""Training UI pieces without a training run: Label next and the prediction filters, run
history (open, compare, delete), the plan check, the bridge's cancel timeout, and that the
window's process never imports torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from projects import make_volume_project as make_project
from training_helpers import failure_box, write_fake_run

from medview.core import messages as msg
from medview.ui.browser_model import (
    COL_LABEL,
    COL_PRED,
    ITEM_ID_ROLE,
    ItemFilterProxy,
)
from medview.ui.job_bridge import JobBridge
from medview.ui.main_window import MainWindow
from medview.ui.settings import Settings
from medview.ui.training_panel import TrainingPanel


@pytest.fixture
def window(qtbot, tmp_path: Path):
    project = make_project(tmp_path, n=12, unlabelled=4)
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    win.set_project(project)
    yield win
    win.close_project()


def _predict(qtbot, window: MainWindow, probs: dict[int, float]) -> None:
    """Store fold-0 predictions (P(MUT) per item id) as a run would."""
    project = window.project
    assert project is not None
    write_fake_run(project, "r1", 0.9)
    rows = [(i, 0, None, [1 - p, p], "MUT" if p >= 0.5 else "WT") for i, p in probs.items()]
    project.add_predictions("r1", rows)
    done: list[bool] = []
    window.training_panel.refresh_predictions(lambda: done.append(True))  # read off-thread
    qtbot.waitUntil(lambda: bool(done), timeout=5000)


def test_label_next_and_prediction_filters(qtbot, window: MainWindow) -> None:
    panel: TrainingPanel = window.training_panel
    items = window.browser.model.items()
    unlabelled = [it.id for it in items if it.label is None]
    labelled = [it for it in items if it.label is not None]
    assert panel.label_next() is None  # nothing predicted yet: says so, selects nothing
    probs = {i: p for i, p in zip(unlabelled, (0.95, 0.55, 0.1, 0.8), strict=True)}
    wrong = labelled[0]  # a WT item the model calls MUT
    probs[wrong.id] = 0.9 if wrong.label == "WT" else 0.1
    _predict(qtbot, window, probs)
    header = window.browser.table.horizontalHeader()
    assert header.visualIndex(COL_PRED) == header.visualIndex(COL_LABEL) + 1  # in view
    assert panel.label_next() == unlabelled[1]  # P 0.55: the closest to a tie
    assert window.browser.current_id() == unlabelled[1]

    proxy = window.browser.proxy
    window.browser.set_quick_filter(ItemFilterProxy.DISAGREE)
    assert window.browser.quick_box.currentText() == "Disagrees with label"
    assert proxy.rowCount() == 1
    window.browser.set_quick_filter(ItemFilterProxy.UNCERTAIN)
    shown = {proxy.index(r, 0).data(ITEM_ID_ROLE) for r in range(proxy.rowCount())}
    assert proxy.rowCount() == 1  # 20 % of 5 predicted items
    assert window.browser.model.is_uncertain(unlabelled[1]) and len(shown) == 1


def test_run_history_open_compare_delete(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    project = window.project
    assert project is not None
    write_fake_run(project, "20260101-000000-a", 0.9, test=True)
    write_fake_run(project, "20260102-000000-b", 0.7)
    panel: TrainingPanel = window.training_panel
    history = panel.history
    history.refresh()
    assert [r.id for r in history.runs] == ["20260102-000000-b", "20260101-000000-a"]
    assert history.table.item(0, 6).text() == "0.700 ± 0.000"

    history.select_runs(["20260101-000000-a"])
    assert history.open_selected() == "20260101-000000-a"
    assert panel.run_id == "20260101-000000-a"
    table = panel.plots.table
    assert table.rowCount() == 4 and set(panel.plots.history) == {1, 2}
    assert table.item(3, 0).text() == "test (2 models)" and table.item(3, 2).text() == "0.750"
    assert table.item(2, 2).text() == "0.825 ± 0.035"  # the mean leaves the test row out
    assert panel.plots.confusion.matrix.tolist() == [[6, 0], [2, 4]]

    history.select_runs(["20260101-000000-a", "20260102-000000-b"])
    assert history.compare_button.isEnabled()
    assert history.compare_selected() == 2
    assert history.compare_table.rowCount() == 2  # no mean row across different runs
    legend = history.compare_roc.getPlotItem().legend
    assert any("AUC 0.900" in label.text for _, label in legend.items)
    assert history.save_roc(tmp_path / "compare.png").is_file()

    (project.runs_dir / "20260102-000000-b" / "metrics.json").write_text("{broken")
    assert not panel.plots.load_run(project.runs_dir / "20260102-000000-b")  # no exception
    assert "no metrics" in panel.plots.summary_label.text()

    asked: list[str] = []

    def answer(_parent, _title: str, text: str, *_a, **_k):  # noqa: ANN001, ANN202
        asked.append(text)
        return reply

    monkeypatch.setattr(QMessageBox, "question", answer)
    history.select_runs(["20260101-000000-a"])
    reply = QMessageBox.StandardButton.No
    history.delete_button.click()
    assert len(project.runs()) == 2  # "No": nothing deleted
    reply = QMessageBox.StandardButton.Yes
    history.delete_button.click()
    assert "20260101-000000-a" in asked[-1] and len(asked) == 2  # the runs named, asked first
    assert [r.id for r in project.runs()] == ["20260102-000000-b"]
    assert not (project.runs_dir / "20260101-000000-a").exists()
    assert panel.run_id is None  # the deleted run is no longer used for Grad-CAM


def test_compare_names_each_run_by_its_whole_id(qtbot, tmp_path: Path) -> None:
    """Study runs ("study7-cnn3d_small") and runs started in the same second each keep their
    own row and legend entry; no fixed cut of the id ("3d_sma", one row for both)."""
    from medview.core.project import Project
    from medview.ui.run_history import RunHistory

    project = Project.create(tmp_path / "p.medview", ["WT", "MUT"])
    ids = ["study7-cnn3d_small", "20260101-000000-x1", "20260101-000000-x2"]
    for run_id, auc in zip(ids, (0.9, 0.8, 0.7), strict=True):
        write_fake_run(project, run_id, auc)
    history = RunHistory()
    qtbot.addWidget(history)
    history.set_project(project)
    assert history.compare(ids) == 3
    assert [name for name, _ in history.compare_table.rows] == [
        "study7-cnn3d_small",
        "cnn3d_small 20260101-000000-x1",
        "cnn3d_small 20260101-000000-x2",
    ]
    legend = [label.text for _, label in history.compare_roc.getPlotItem().legend.items]
    assert legend == [
        "study7-cnn3d_small (AUC 0.900)",
        "cnn3d_small 20260101-000000-x1 (AUC 0.800)",
        "cnn3d_small 20260101-000000-x2 (AUC 0.700)",
    ]
    project.close()


def test_plan_check_no_labels_and_mixed_kinds(qtbot, window: MainWindow, data_dir) -> None:
    from projects import add_file
    from projects import describe_file as _fallback_read

    panel: TrainingPanel = window.training_panel
    project = window.project
    assert project is not None
    # Mixed: add labelled 2D images beside the volumes; the panel lets the user pick.
    for k, name in enumerate(("grey0.png", "grey1.png")):
        path = data_dir / name
        add_file(project, path, _fallback_read(str(path)), "raster", ["WT", "MUT"][k])
    panel.form.set_values({"model": None, "folds": 3})
    plan = panel.check()
    assert plan is not None and plan.mixed and plan.kind == "3d"
    assert any("mixes 2D and 3D" in w for w in plan.warnings)
    # One "Train on" (the form's), opened for the user to pick; the panel has none of its own.
    from PySide6.QtWidgets import QLabel

    train_on = [w for w in panel.findChildren(QLabel) if w.text() == "Train on"]
    assert len(train_on) == 1 and train_on[0].isVisibleTo(panel)
    kind = panel.form.editors["kind"]
    assert kind.widget.isVisibleTo(panel) and kind.value() is None  # Auto (majority kind)
    panel.form.set_values({"kind": "2d"})
    panel.check()
    assert panel.plan is not None and panel.plan.kind == "2d" and not panel.plan.ok
    assert "3-fold cross-validation needs at least 3" in panel.plan.errors[0]
    # No labels at all, cleared in the window: the plan follows once labelling pauses.
    window.browser.model.reload()  # the two images were added behind the window's back
    window.browser.table.selectAll()
    window.label_selected(None)
    qtbot.waitUntil(lambda: "No labelled items yet" in panel.plan_label.text(), timeout=5000)
    assert panel.plan is not None and not panel.plan.ok
    assert not panel.train_button.isEnabled()


def test_stubborn_worker_is_terminated_off_the_gui_thread(qtbot) -> None:
    bridge = JobBridge({}, "training_helpers:stubborn_worker", interval_ms=20, cancel_timeout=0.5)
    with qtbot.waitSignal(bridge.started, timeout=30_000):
        bridge.start()
    with qtbot.waitSignal(bridge.ended, timeout=30_000) as ended:
        bridge.cancel()
    assert ended.args == ["cancelled"] and not bridge.job.is_alive()


def test_a_message_the_window_cannot_read_fails_the_job(qtbot, monkeypatch) -> None:  # noqa: ANN001
    bridge = JobBridge({}, "training_helpers:stubborn_worker", interval_ms=20)
    with qtbot.waitSignal(bridge.started, timeout=30_000):
        bridge.start()

    def corrupt(**_kwargs: object) -> list[msg.Message]:
        raise ValueError("unknown message type 'x'")

    monkeypatch.setattr(bridge.job, "poll", corrupt)
    with (
        qtbot.waitSignal(bridge.failed, timeout=10_000) as failed,
        qtbot.waitSignal(bridge.ended, timeout=10_000) as ended,
    ):
        pass
    assert ended.args == ["failed"] and bridge.job.done
    assert "lost contact with the worker: unknown message type 'x'" in failed.args[0].error
    assert not bridge.job.is_alive()  # the worker (which ignores cancel) was stopped


def test_the_panel_shows_what_its_session_says(qtbot, window: MainWindow) -> None:
    """The view without a worker: a fake run's messages go to the session, the widgets follow."""
    panel: TrainingPanel = window.training_panel
    panel.form.set_values({"model": "cnn3d_small", "folds": 2, "epochs": 2})
    assert panel.check() is not None and panel.train_button.isEnabled()
    assert not panel.cancel_button.isEnabled()
    assert panel.session.begin(panel.config()) is not None  # what Train does before the process
    assert not panel.train_button.isEnabled() and panel.cancel_button.isEnabled()
    assert not panel.compare_button.isEnabled() and not panel.tune_button.isEnabled()
    assert panel.progress.format() == "starting the training process…"
    plan = msg.RunPlan("cnn3d_small", "3d", ["WT", "MUT"], [1, 2], 2, 12, device="cpu")
    panel.session.handle(msg.Started("r9", plan))
    panel.session.handle(msg.Epoch("r9", 1, 1, 2, 0.5, 0.6, 0.9, 0.7, 1e-3, 1.0, 30.0, 0.25))
    assert panel.progress.value() == 250 and "fold 1/2 · epoch 1/2" in panel.progress.format()
    assert panel.status.text() == "loss 0.500 (val 0.600), val AUC 0.900"
    assert len(panel.plots.history[1]) == 1
    with qtbot.waitSignal(panel.runEnded, timeout=5000) as ended:
        panel.session.handle(msg.Failed("the training process stopped (exit code -9)", "r9"))
    assert ended.args == ["failed", "r9"]
    box = failure_box(window)
    assert box.isVisible() and "SIGKILL" in box.informativeText()
    assert panel.progress.format() == "failed" and "#c62828" in panel.progress.styleSheet()
    assert panel.train_button.isEnabled() and not panel.cancel_button.isEnabled()
    box.close()


def test_the_window_process_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from medview.ui.app import create_app, create_window\n"
        "app = create_app(); w = create_window(); w.show(); app.processEvents()\n"
        "p = w.training_panel; p.check(); p.plots.reset(['a', 'b'], [1])\n"
        "print(sorted(m for m in ('torch', 'monai', 'sklearn') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr


def test_overlay_follows_its_own_item_only(qtbot, window: MainWindow) -> None:
    import numpy as np

    from medview.core.image import Image

    panel: TrainingPanel = window.training_panel
    view = window.slice_view
    view.set_image(Image(np.zeros((10, 20, 24), np.float32)))
    panel.item_shown(1)
    panel.overlay.set_map(1, np.random.rand(10, 20, 24).astype(np.float32))
    assert panel.overlay.plane_shape() == (20, 24)
    view.set_axis(1)  # coronal: (z, x)
    assert panel.overlay.plane_shape() == (10, 24)
    panel.item_shown(2)  # another item of the same shape: its map is not item 1's
    assert panel.overlay.plane_shape() is None
    view.step(1)
    assert panel.overlay.plane_shape() is None
    panel.item_shown(1)
    assert panel.overlay.plane_shape() == (10, 24)
    panel.overlay.toggle()
    assert panel.overlay.plane_shape() is None and not panel.overlay_controls.check.isChecked()
