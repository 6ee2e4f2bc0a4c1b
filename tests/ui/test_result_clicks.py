"""Results you can click: a confusion cell filters the browser to exactly its items, a ROC
click sets the decision threshold and recounts, quick filters for the shown run's errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from projects import make_image_project as make_project_2d
from training_helpers import write_fake_run

from medview.ui.main_window import MainWindow  # noqa: E402
from medview.ui.settings import Settings  # noqa: E402

# Per item (in project order): true class and P(MUT). WT items 0, 2, .. 10 all below 0.5;
# MUT items 1, 3, .. 11: four above 0.5, items 3 and 7 below (the false negatives).
P_MUT = [0.1, 0.9, 0.2, 0.4, 0.45, 0.8, 0.05, 0.2, 0.3, 0.7, 0.15, 0.95]


def _write_predictions(project, run_id: str) -> None:
    items = project.items()
    lines = ["item_id,item_name,fold,split,true,prob_WT,prob_MUT,predicted"]
    for k, item in enumerate(items):
        p = P_MUT[k]
        pred = "MUT" if p >= 0.5 else "WT"
        for fold in (1 + (k // 2) % 2, 0):  # both classes in each fold
            lines.append(f"{item.id},{item.name},{fold},val,{item.label},{1 - p},{p},{pred}")
    (project.runs_dir / run_id / "predictions.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def window(qtbot, tmp_path: Path):
    project = make_project_2d(tmp_path, 12, shape=(16, 16))
    write_fake_run(project, "r1", 0.8)
    _write_predictions(project, "r1")
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    win.resize(1500, 950)
    win.show()
    win.set_project(project)
    panel = win.training_panel
    panel.history.refresh()
    panel.history.select_runs(["r1"])
    panel.history.open_selected()
    qtbot.waitExposed(panel.plots.confusion)
    yield win
    panel.shutdown()
    win.close_project()


def _click(qtbot, plot, x: float, y: float) -> None:
    from PySide6.QtCore import QPointF, Qt

    view = plot.getPlotItem().getViewBox()
    scene = view.mapViewToScene(QPointF(x, y))
    pos = plot.mapFromScene(scene)
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def _shown(win) -> list[int]:
    from medview.ui.browser import ITEM_ID_ROLE

    proxy = win.browser.proxy
    return [proxy.index(r, 0).data(ITEM_ID_ROLE) for r in range(proxy.rowCount())]


def test_clicking_a_confusion_cell_filters_to_exactly_those_items(qtbot, window):
    ids = [it.id for it in window.project.items()]
    plots = window.training_panel.plots
    assert plots.confusion.matrix.tolist() == [[6, 0], [2, 4]]
    _click(qtbot, plots.confusion, 0.5, 1.5)  # true MUT, predicted WT
    assert sorted(_shown(window)) == [ids[3], ids[7]]
    assert window.browser.current_id() == _shown(window)[0]
    assert "True MUT, predicted WT (2)" in window.browser.quick_box.currentText()
    _click(qtbot, plots.confusion, 1.5, 1.5)  # true positives
    assert sorted(_shown(window)) == [ids[k] for k in (1, 5, 9, 11)]
    _click(qtbot, plots.confusion, 1.5, 0.5)  # no false positives at 0.5
    assert _shown(window) == []


def test_clicking_the_roc_sets_the_threshold_and_recounts(qtbot, window):
    panel = window.training_panel
    plots, clicks = panel.plots, window.training.result_clicks
    pooled = clicks.pooled_curve  # the curve whose points a click picks is drawn
    assert pooled is not None and pooled in plots.roc_plot.getPlotItem().items
    _click(qtbot, plots.roc_plot, 1.0, 1.0)  # top right: everything called MUT
    assert clicks.threshold == pytest.approx(min(P_MUT))
    assert plots.confusion.matrix.tolist() == [[0, 6], [0, 6]]
    assert "@ 0.050" in plots.confusion.getPlotItem().titleLabel.text
    assert plots.table.item(1, 4).text() == "1.000"
    assert plots.table.item(1, 5).text() == "0.000"  # specificity: every WT called MUT
    # The error filters follow the threshold.
    window.browser.set_quick_filter("fp")
    assert len(_shown(window)) == 6
    _click(qtbot, plots.roc_plot, 0.0, 0.67)  # above P 0.45: MUT items 3 and 7 missed
    assert clicks.threshold == pytest.approx(0.7)
    assert plots.confusion.matrix.tolist() == [[6, 0], [2, 4]]
    assert _shown(window) == []  # still the false-positive filter: none now
    assert plots.table.item(1, 4).text() == "0.333"  # fold 2 recall: items 3 and 7 missed


def test_error_quick_filters_for_the_shown_run(qtbot, window):
    ids = [it.id for it in window.project.items()]
    window.browser.set_quick_filter("fn")
    assert sorted(_shown(window)) == [ids[3], ids[7]]
    window.browser.set_quick_filter("wrong")
    assert _shown(window) == [ids[7], ids[3]]  # P(WT) 0.8 before 0.6: most confident first
    window.browser.set_quick_filter("all")
    assert len(_shown(window)) == 12
    assert np.all(np.diff([window.browser.proxy.index(r, 0).row() for r in range(12)]) == 1)


def test_g_computes_grad_cam_for_the_selected_item_then_toggles(qtbot, window, monkeypatch):
    from medview.ui.training_dock import gradcam_key

    panel = window.training_panel
    plots = panel.plots
    _click(qtbot, plots.confusion, 0.5, 1.5)  # the false negatives; the first is selected
    qtbot.waitUntil(lambda: window.current_item is not None)
    asked: list[int] = []
    monkeypatch.setattr(panel, "gradcam", lambda: asked.append(window.current_item.id))
    gradcam_key(panel)
    assert asked == [window.browser.current_id()]  # no map yet: computed
    panel.overlay.set_map(asked[0], np.zeros((1, 16, 16), np.float32))
    enabled = panel.overlay.enabled
    gradcam_key(panel)
    assert panel.overlay.enabled is not enabled and asked == [asked[0]]  # now a toggle


def test_a_run_with_a_chosen_threshold_opens_at_it(qtbot, window):
    import json

    project = window.project
    path = project.runs_dir / "r1" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["calibration"] = {"method": "youden", "threshold": 0.15}
    path.write_text(json.dumps(metrics))
    panel = window.training_panel
    panel.history.open_selected()
    assert window.training.result_clicks.threshold == pytest.approx(0.15)
    # P(MUT) >= 0.15: MUT all called MUT; WT items with 0.2, 0.45, 0.3, 0.15 called MUT.
    assert panel.plots.confusion.matrix.tolist() == [[2, 4], [0, 6]]


def _write_cross_fitted_predictions(project, run_id: str, thresholds: dict[int, float]) -> None:
    """predictions.csv as runs write it since issue 26: p_/p_raw and each row's threshold."""
    lines = ["item_id,item_name,fold,split,true,p_WT,p_MUT,p_WT_raw,p_MUT_raw,predicted,threshold"]
    for k, item in enumerate(project.items()):
        p, fold = P_MUT[k], 1 + (k // 2) % 2
        pred = "MUT" if p >= thresholds[fold] else "WT"
        for f in (fold, 0):
            lines.append(
                f"{item.id},{item.name},{f},val,{item.label},{1 - p},{p},{1 - p},{p},{pred},"
                f"{thresholds[fold]}"
            )
    (project.runs_dir / run_id / "predictions.csv").write_text("\n".join(lines) + "\n")


def test_each_fold_opens_at_its_own_cross_fitted_threshold_and_the_table_keeps_the_runs_figures(
    qtbot, window
):
    import json

    project = window.project
    path = project.runs_dir / "r1" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["calibration"] = {"method": "youden", "threshold": 0.15}
    path.write_text(json.dumps(metrics))
    _write_cross_fitted_predictions(project, "r1", {1: 0.4, 2: 0.15})
    panel = window.training_panel
    panel.history.open_selected()
    clicks = window.training.result_clicks
    assert clicks.threshold is None  # no single threshold imposed on every row
    # Fold 1's rows at 0.4 (WT 0.45 called MUT), fold 2's at 0.15 (WT 0.2 and 0.15 called MUT):
    # 3 false positives, where one threshold of 0.15 for all would count 4.
    assert panel.plots.confusion.matrix.tolist() == [[3, 3], [0, 6]]
    # Its title fits the plot (a long one pushed the MUT column out of sight at the window's
    # default size); the tooltip says how the thresholds were chosen.
    from PySide6.QtGui import QFont, QFontMetrics

    confusion = panel.plots.confusion
    title = confusion.getPlotItem().titleLabel.text
    font = QFont(confusion.font())
    font.setPointSize(10)
    assert QFontMetrics(font).horizontalAdvance(title) < 0.9 * confusion.width(), title
    assert "chosen on the other folds" in confusion.toolTip()
    # The fold rows show the run's own figures (what its log says), not a recount at 0.15.
    table = panel.plots.table
    fold_1 = next(m for name, m in table.rows if name == "1")
    assert fold_1["accuracy"] == pytest.approx(metrics["folds"][0]["accuracy"])


def test_the_probability_column_is_named_after_its_class(qtbot, window):
    from PySide6.QtCore import Qt

    from medview.core.project import Prediction
    from medview.ui.browser_model import COL_PROB

    project, model = window.project, window.browser.model
    item = project.items()[0]
    model.set_predictions({item.id: Prediction("r1", item.id, 0, "val", [0.8, 0.2], "WT", "")})
    header = model.headerData(COL_PROB, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
    assert header == "P(MUT)"
    row = model.row_of(item.id)
    shown = model.data(model.index(row, COL_PROB), Qt.ItemDataRole.DisplayRole)
    assert shown == "0.20"  # P(MUT), not the predicted class's 0.80 under a bare "P"
