"""The live plots stay readable: the confusion matrix's column names shorten to fit their cells in
a narrow dock (the rows keep the full names, in the same order), and a one-epoch curve shows."""

from __future__ import annotations

import pytest

from medview.ui.confusion_plot import ConfusionPlot, fit_name

CLASSES = ["benign", "malignant", "normal"]


def _column_names(plot: ConfusionPlot) -> list[str]:
    return [name for _, name in plot.getPlotItem().getAxis("bottom")._tickLevels[0]]


def test_column_names_fit_their_cells_and_rows_keep_the_full_names(qtbot) -> None:
    plot = ConfusionPlot()
    qtbot.addWidget(plot)
    plot.resize(900, 600)
    plot.show()
    plot.set_matrix([[15, 0, 0], [0, 15, 0], [0, 0, 15]], CLASSES, "pooled")
    qtbot.waitUntil(lambda: _column_names(plot) == CLASSES)
    plot.resize(330, 180)  # the live plots' confusion in a narrow window
    qtbot.waitUntil(lambda: _column_names(plot) != CLASSES)
    short = _column_names(plot)
    for name, full in zip(short, CLASSES, strict=True):
        assert name == full or (name.endswith(".") and full.startswith(name[:-1]))
    rows = [name for _, name in plot.getPlotItem().getAxis("left")._tickLevels[0]]
    assert rows == CLASSES
    plot.resize(900, 600)
    qtbot.waitUntil(lambda: _column_names(plot) == CLASSES)


def test_an_empty_confusion_matrix_shows_no_numbers_on_its_axes(qtbot) -> None:
    plot = ConfusionPlot()  # before any run: no classes, no counts
    qtbot.addWidget(plot)
    plot.resize(330, 220)
    plot.show()
    item = plot.getPlotItem()
    for name in ("bottom", "left"):
        axis = item.getAxis(name)
        assert axis._tickLevels == [[]]  # no auto ticks such as "-400 (x0.001)"
        assert axis.autoSIPrefixScale == 1.0
    (x0, x1), (y0, y1) = item.getViewBox().viewRange()
    # the unit square, widened on one axis by the locked aspect
    assert x0 <= 0 < 1 <= x1 and y0 <= 0 < 1 <= y1 and max(x1 - x0, y1 - y0) < 3
    plot.set_matrix([[3, 1], [0, 4]], ["WT", "MUT"], "fold 1")  # then a run's matrix
    assert [n for _, n in item.getAxis("left")._tickLevels[0]] == ["WT", "MUT"]
    plot.set_matrix([], (), "Confusion matrix")  # and back (a new run clears it)
    assert item.getAxis("left")._tickLevels == [[]] and plot.matrix is None


def test_fit_name_keeps_at_least_three_letters() -> None:
    assert fit_name("normal", 10) == "normal"
    assert fit_name("malignant", 6) == "malig."
    assert fit_name("malignant", 1) == "mal."


def test_a_one_epoch_curve_shows_a_dot_and_a_longer_one_a_line(qtbot) -> None:
    from medview.core import messages as msg
    from medview.ui.plots import LivePlots

    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.reset(["WT", "MUT"], [1])
    plots.add_epoch(msg.Epoch("r", 1, 1, 1, 0.7, 0.69, 0.6))
    curves = [plots.curves[key] for key in (("train", 1), ("val", 1), ("auc", 1))]
    assert all(c.opts["symbol"] == "o" for c in curves)  # one point: visible as a dot
    plots.add_epoch(msg.Epoch("r", 1, 2, 2, 0.6, 0.65, 0.7))
    assert all(c.opts["symbol"] is None for c in curves)  # a line from the second epoch


def _finished_plots(qtbot, width: int, height: int, epochs: int = 10):  # noqa: ANN001, ANN202
    """Five folds with ROC curves, a mean and a test ensemble, in a dock of this size."""
    import numpy as np

    from medview.core import messages as msg
    from medview.ui.plots import LivePlots

    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(width, height)
    plots.show()
    qtbot.waitExposed(plots)
    plots.reset(["WT", "MUT"], [1, 2, 3, 4, 5], epochs)
    grid = np.linspace(0, 1, 101)
    for f in range(1, 6):
        for e in range(1, epochs + 1):
            plots.add_epoch(msg.Epoch("r", f, e, epochs, 0.7 / e + 0.05 * f, 0.75 / e, 0.7))
        tpr = np.clip(grid ** (0.2 + 0.02 * f), 0, 1).tolist()
        metrics = {"roc_auc": 0.8 + 0.03 * f, "confusion": [[3, 1], [1, 3]]}
        plots.add_fold(msg.FoldDone("r", f, metrics, {"fpr": grid.tolist(), "tpr": tpr}))
    roc = {"fpr": grid.tolist(), "tpr": np.clip(grid**0.15, 0, 1).tolist()}
    plots.set_final({
        "classes": ["WT", "MUT"], "folds": [{"fold": f} for f in range(1, 6)],
        "summary": {"roc_auc": {"mean": 0.89, "std": 0.05}},
        "roc_mean": {"fpr": grid.tolist(), "tpr_mean": np.clip(grid**0.2, 0, 1).tolist()},
        "test": {"n": 8, "roc_auc": 0.91, "n_models": 5, "roc": roc},
    })  # fmt: skip
    qtbot.wait(50)
    return plots


def test_a_one_epoch_run_reads_epoch_1_not_0_6_to_1_4(qtbot) -> None:  # noqa: ANN001
    plots = _finished_plots(qtbot, 1400, 390, epochs=1)
    for widget in (plots.loss_plot, plots.auc_plot):
        axis = widget.getPlotItem().getAxis("bottom")
        (x0, x1), _ = widget.getPlotItem().getViewBox().viewRange()
        ticks = [v for _, values in axis.tickValues(x0, x1, axis.width()) for v in values]
        assert ticks == [1.0], ticks


@pytest.mark.parametrize("size", [(1400, 390), (900, 330)], ids=["default", "narrow"])
def test_legends_cover_no_curve_and_are_not_clipped(qtbot, size) -> None:  # noqa: ANN001
    from PySide6.QtCore import QPointF

    plots = _finished_plots(qtbot, *size)
    for widget in (plots.loss_plot, plots.auc_plot):  # the folds' key is above the plots
        legend = widget.getPlotItem().legend
        assert legend is None or not legend.items
    assert all(f"&nbsp;{f}" in plots.fold_key.text() for f in range(1, 6))
    item = plots.roc_plot.getPlotItem()
    legend, box = item.legend, item.getViewBox()
    if size == (1400, 390):
        assert legend.isVisible()  # at the default size, the mean and test AUCs show
    if not legend.isVisible():
        return
    area = legend.sceneBoundingRect()
    assert box.sceneBoundingRect().contains(area)  # not clipped
    for curve in item.listDataItems():
        xs, ys = curve.getData()
        for x, y in zip(xs, ys, strict=True):
            point = box.mapViewToScene(QPointF(float(x), float(y)))
            assert not area.contains(point), (curve.name(), x, y)


def _legend_covers_nothing(widget) -> bool:  # noqa: ANN001
    """The legend is hidden, or inside the plot with no curve point under it."""
    from PySide6.QtCore import QPointF

    item = widget.getPlotItem()
    legend, box = item.legend, item.getViewBox()
    if not legend.isVisible():
        return True
    area = legend.sceneBoundingRect()
    if not box.sceneBoundingRect().contains(area):
        return False
    for curve in item.listDataItems():
        xs, ys = curve.getData()
        for x, y in zip(xs, ys, strict=True):
            if area.contains(box.mapViewToScene(QPointF(float(x), float(y)))):
                return False
    return True


@pytest.mark.parametrize("width", [1400, 600])
def test_run_history_comparison_legend_covers_no_curve(qtbot, tmp_path, width: int) -> None:  # noqa: ANN001
    from training_helpers import write_fake_run

    from medview.core.project import Project
    from medview.ui.run_history import RunHistory

    with Project.create(tmp_path / "p.medview") as project:
        for k, auc in enumerate((0.9, 0.8, 0.7)):
            write_fake_run(project, f"2026010{k + 1}-000000-r{k}", auc)
        history = RunHistory()
        qtbot.addWidget(history)
        history.resize(width, 390)
        history.show()
        qtbot.waitExposed(history)
        history.set_project(project)
        assert history.compare([r.id for r in project.runs()]) == 3
        qtbot.wait(50)
        assert _legend_covers_nothing(history.compare_roc)
        if width == 1400:
            assert history.compare_roc.getPlotItem().legend.isVisible()
