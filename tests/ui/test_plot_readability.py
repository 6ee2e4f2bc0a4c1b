"""The live plots stay readable: the confusion matrix's column names shorten to fit their cells in
a narrow dock (the rows keep the full names, in the same order), and a one-epoch curve shows."""

from __future__ import annotations

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
