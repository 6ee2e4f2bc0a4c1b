"""The confusion matrix stays readable in a narrow dock: column names shorten to fit their cells
(the rows keep the full names, in the same order) and come back when there is room."""

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


def test_fit_name_keeps_at_least_three_letters() -> None:
    assert fit_name("normal", 10) == "normal"
    assert fit_name("malignant", 6) == "malig."
    assert fit_name("malignant", 1) == "mal."
