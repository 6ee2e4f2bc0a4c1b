"""The Training dock with the REAL worker process on a tiny synthetic project: a full run
(signals in order, plots, table, predictions, Label next, Grad-CAM, Predict unlabelled, run
history), Cancel, and a worker that dies. Each spawned process pays a torch import (~5 s)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from projects import SHAPE
from projects import make_volume_project as make_project
from training_helpers import failure_box

from medview.core.project import Project
from medview.ui.main_window import MainWindow
from medview.ui.settings import Settings
from medview.ui.training_panel import TrainingPanel

TINY = {"model": "cnn3d_small", "epochs": 2, "folds": 2, "batch_size": 4, "size": 16}
RUN_TIMEOUT_MS = 90_000


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


def _types(panel: TrainingPanel) -> list[str]:
    seen: list[str] = []
    assert panel.bridge is not None
    panel.bridge.message.connect(lambda m: seen.append(m.type))
    return seen


def test_full_run_plots_predictions_label_next_gradcam(qtbot, window: MainWindow) -> None:
    panel: TrainingPanel = window.training_panel
    assert panel.plan is not None and panel.plan.ok, panel.plan.text()
    assert panel.start()
    seen = _types(panel)
    with qtbot.waitSignal(panel.runEnded, timeout=RUN_TIMEOUT_MS) as ended:
        pass
    assert ended.args[0] == "finished", panel.status.text()
    run_id = ended.args[1]

    # Signals in order: started first, epochs before their fold's end, exactly one terminal.
    assert seen[0] == "started" and seen[-1] == "finished"
    assert seen.count("finished") == 1 and seen.count("fold_done") == 2
    assert seen.index("epoch") < seen.index("fold_done")
    assert seen.count("epoch") == 4

    # Plots and table received data.
    plots = panel.plots
    assert set(plots.history) == {1, 2} and all(len(v) == 2 for v in plots.history.values())
    x, y = plots.curves[("train", 1)].getData()
    assert list(x) == [1, 2] and len(y) == 2
    assert ("roc_mean", 0) in plots.curves and len(plots.fold_rocs) == 2
    assert all(e.confusion for e in plots.history[2])  # live confusion at every epoch
    assert plots.confusion.matrix is not None and plots.confusion.matrix.sum() == 12  # pooled
    assert plots.table.rowCount() == 3  # two folds + mean ± std
    assert "±" in plots.table.item(2, 2).text()
    assert panel.progress.value() == 1000

    # Predictions in the browser, for labelled (out-of-fold) and unlabelled items.
    model = window.browser.model
    assert all(model.prediction(it.id) is not None for it in model.items())
    assert window.project is not None
    assert window.project.get_run(run_id).status == "finished"

    # Label next selects the least certain unlabelled item.
    target = panel.label_next()
    assert target is not None and window.browser.current_id() == target
    assert window.project.get_item(target).label is None
    qtbot.waitSignal(window.imageShown, timeout=10_000)
    qtbot.waitUntil(lambda: window.slice_view.image is not None, timeout=10_000)

    # Grad-CAM: an overlay of the displayed slice's shape, following the plane.
    assert panel.gradcam() is not None
    with qtbot.waitSignal(panel.gradcamReady, timeout=RUN_TIMEOUT_MS):
        pass
    view = window.slice_view
    assert panel.overlay.volume is not None and panel.overlay.volume.shape == SHAPE
    assert panel.overlay.plane_shape() == view.image_item.image.shape[:2]
    view.set_axis(2)  # sagittal: (z, y)
    assert panel.overlay.plane_shape() == (SHAPE[0], SHAPE[1])
    assert panel.overlay.volume.min() >= 0.0 and panel.overlay.volume.max() <= 1.0
    panel.overlay.toggle()
    assert panel.overlay.plane_shape() is None  # off
    panel.overlay.toggle()
    panel.overlay_controls.slider.setValue(30)
    assert panel.overlay.item.opacity() == pytest.approx(0.3)

    # Predict unlabelled (a one-shot process) refreshes the browser.
    assert panel.predict_unlabelled() is not None
    with qtbot.waitSignal(panel.predictionsReady, timeout=RUN_TIMEOUT_MS) as predicted:
        pass
    assert predicted.args[0] == 3

    # Run history lists it; the plots reload from the run folder.
    history = panel.history
    assert history.runs and history.runs[0].id == run_id
    assert history.table.item(0, 2).text() == "finished"
    assert plots.load_run(Path(window.project.runs_dir / run_id))
    assert plots.table.rowCount() == 3


def test_cancel_ends_the_run_as_cancelled(qtbot, window: MainWindow) -> None:
    panel: TrainingPanel = window.training_panel
    panel.form.set_values({"epochs": 300})
    assert panel.start()
    with qtbot.waitSignal(panel.bridge.epoch, timeout=RUN_TIMEOUT_MS):
        pass
    panel.cancel()
    assert not panel.cancel_button.isEnabled()
    with qtbot.waitSignal(panel.runEnded, timeout=RUN_TIMEOUT_MS) as ended:
        pass
    assert ended.args[0] == "cancelled"
    assert window.project.get_run(ended.args[1]).status == "cancelled"
    assert panel.progress.format() == "cancelled"
    assert panel.train_button.isEnabled()


def test_a_dying_worker_leaves_the_window_working(qtbot, window: MainWindow) -> None:
    panel: TrainingPanel = window.training_panel
    panel.session.target = "training_helpers:dying_worker"
    assert panel.start()
    with qtbot.waitSignal(panel.runEnded, timeout=RUN_TIMEOUT_MS) as ended:
        pass
    status, run_id = ended.args
    assert status == "failed" and run_id
    assert "stopped unexpectedly" in panel.status.text()
    box = failure_box(window)
    assert box.isVisible() and "exit code 3" in box.text()
    with Project.open(window.project.folder) as other:
        assert other.get_run(run_id).status == "failed"
    # The window still works: label an item, browse, start again.
    box.close()
    first = window.browser.model.items()[0].id
    window.browser.select_item(first)
    window.label_selected("MUT")
    assert window.project.get_item(first).label == "MUT"
    assert panel.train_button.isEnabled()
    assert panel.history.table.item(0, 2).text() == "failed"


def test_plan_check_says_what_is_wrong(qtbot, window: MainWindow) -> None:
    panel: TrainingPanel = window.training_panel
    panel.form.set_values({"folds": 7})  # 6 items per class
    plan = panel.check()
    assert plan is not None and not plan.ok
    assert "7-fold cross-validation needs at least 7" in plan.errors[0]
    assert not panel.train_button.isEnabled() and not panel.start()
    panel.form.set_values({"model": "resnet18", "folds": 2})  # a 2D model, 3D items only
    plan = panel.check()
    assert plan is not None and "every labelled item is 3D" in plan.errors[0]


def test_metrics_export_and_plot_files(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch
) -> None:
    from medview.core import messages as msg
    from medview.ui import plot_export

    def no_fallback(*_args: object) -> None:
        raise AssertionError("pyqtgraph's SVG exporter failed; the fallback was used")

    monkeypatch.setattr(plot_export, "_render_svg", no_fallback)

    plots = window.training_panel.plots
    plots.reset(["WT", "MUT"], [1, 2])
    for fold in (1, 2):
        for epoch in (1, 2):
            plots.add_epoch(
                msg.Epoch("r", fold, epoch, 2, 0.7 / epoch, 0.8 / epoch, 0.6 + 0.1 * epoch)
            )
        roc = {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.8, 1.0]}
        metrics = {
            "n_val": 6,
            "accuracy": 0.5 + 0.25 * fold,
            "roc_auc": 0.8,
            "confusion": [[2, 1], [0, 3]],
        }
        plots.add_fold(msg.FoldDone("r", fold, metrics, roc))
    live = msg.Epoch("r", 2, 3, 3, 0.1, 0.2, 0.9, confusion=[[3, 0], [1, 2]])
    plots.add_epoch(live)  # an engine that reports the epoch's confusion: shown at once
    assert plots.confusion.matrix.tolist() == [[3, 0], [1, 2]]
    plots.add_fold(msg.FoldDone("r", 2, metrics, roc))
    csv_path = plots.table.save_csv(tmp_path / "m.csv")
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("fold,n_val,accuracy") and lines[3].startswith("mean,6.0,0.875")
    for name in ("loss", "auc", "roc", "confusion"):
        for suffix in (".png", ".svg"):
            out = plots.save_plot(name, tmp_path / f"{name}{suffix}")
            assert out.is_file() and out.stat().st_size > 500, out
    assert json.dumps(plots.table.table_text())
    assert np.asarray(plots.confusion.matrix).tolist() == [[2, 1], [0, 3]]


def test_2d_run_and_gradcam_overlay(qtbot, tmp_path: Path) -> None:
    from projects import make_image_project as make_project_2d

    win = MainWindow(Settings())
    qtbot.addWidget(win)
    win.show()
    win.set_project(make_project_2d(tmp_path))
    panel: TrainingPanel = win.training_panel
    panel.form.set_values(
        {"model": "cnn_small", "epochs": 1, "folds": 2, "batch_size": 4, "size": 16}
    )
    panel.session.overrides = {"threads": 1}
    assert panel.start()
    with qtbot.waitSignal(panel.runEnded, timeout=RUN_TIMEOUT_MS) as ended:
        pass
    assert ended.args[0] == "finished", panel.status.text()
    win.browser.select_item(win.browser.model.items()[1].id)
    qtbot.waitUntil(lambda: win.slice_view.image is not None, timeout=10_000)
    assert panel.gradcam() is not None
    with qtbot.waitSignal(panel.gradcamReady, timeout=RUN_TIMEOUT_MS):
        pass
    assert panel.overlay.volume is not None and panel.overlay.volume.shape == (1, 30, 40)
    assert panel.overlay.plane_shape() == (30, 40) == win.slice_view.image_item.image.shape[:2]
    panel.shutdown()
    win.close_project()
