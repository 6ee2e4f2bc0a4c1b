"""The confusion-matrix plot of the live plots (and of result clicks): counts as text on a
row-normalised colour scale, sharp cells in PNG and SVG."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtGui


class ConfusionPlot(pg.PlotWidget):
    """Counts as text on a colour scale (white to blue), classes on both axes. ``source``
    says what it shows (for medview.ui.result_clicks): ("epoch" | "fold", fold number),
    ("pooled", 0) or ("test", 0)."""

    classes: Sequence[str] = ()  # set by set_matrix; a class default, as Qt may resize first

    def __init__(self) -> None:
        super().__init__(background="w")
        self.source: tuple[str, int] = ("pooled", 0)
        item = self.getPlotItem()
        item.setLabel("bottom", "predicted", color="#333")
        item.setLabel("left", "true", color="#333")
        item.setMouseEnabled(False, False)
        item.hideButtons()
        item.getViewBox().invertY(True)
        item.getViewBox().setAspectLocked(True)
        for name in ("bottom", "left"):
            item.getAxis(name).setPen("#666")
            item.getAxis(name).setTextPen("#333")
        self.image = pg.ImageItem(axisOrder="row-major")
        lut = np.stack(
            [
                np.linspace(c0, c1, 256)
                for c0, c1 in zip((247, 251, 255), (8, 48, 107), strict=True)
            ],
            axis=1,
        )
        self.image.setLookupTable(lut.astype(np.uint8))
        item.addItem(self.image)
        item.getViewBox().sigResized.connect(self._fit_column_names)
        self.texts: list[pg.TextItem] = []
        self.matrix: np.ndarray | None = None
        self.setMinimumSize(200, 180)
        self.setMenuEnabled(False)
        self.set_matrix([], (), "Confusion matrix")

    def set_title(self, text: str) -> None:
        self.getPlotItem().setTitle(text, color="#222", size="10pt")

    def set_matrix(
        self, matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str
    ) -> None:
        cm = np.asarray(matrix, dtype=float)
        n = cm.shape[0] if cm.ndim == 2 else 0
        self.set_title(title)
        if len(self.texts) != n * n:  # new class count: new labels (else they are reused)
            for text in self.texts:
                self.getPlotItem().removeItem(text)
            self.texts = [self._cell_text() for _ in range(n * n)]
        if n == 0:  # no classes yet (before the run has said which): an empty unit square,
            self.matrix = None  # not auto-ranged axes with ticks like "-400 (x0.001)"
            self.image.clear()
            self.classes = []
            for name in ("bottom", "left"):
                self.getPlotItem().getAxis(name).setTicks([[]])
            self.getPlotItem().getViewBox().setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            return
        self.matrix = cm
        # Row-normalised colour: a small class reads as clearly as a large one.
        rows = cm.sum(axis=1, keepdims=True)
        norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        # Each cell as a block of pixels: SVG viewers smooth a scaled-up image, and a 2×2
        # image would become a blur; blocks keep the cells' edges sharp.
        block = max(1, 256 // n)
        self.image.setImage(np.kron(norm, np.ones((block, block))), levels=(0.0, 1.0))
        self.image.setRect(0, 0, n, n)
        for text, ((i, j), value) in zip(self.texts, np.ndenumerate(cm), strict=True):
            text.setText(f"{int(value)}", color="w" if norm[i, j] > 0.5 else "#111")
            text.setPos(j + 0.5, i + 0.5)
        self.classes = list(classes)
        self.getPlotItem().getAxis("left").setTicks([list(enumerate_ticks(self.classes))])
        self.getPlotItem().getViewBox().setRange(xRange=(0, n), yRange=(0, n), padding=0.02)
        self._fit_column_names()

    def _fit_column_names(self) -> None:
        """The columns' names shortened to what fits under a cell (the rows keep the full
        names, in the same order), so that three or more long names do not run together."""
        if not self.classes:
            return
        axis = self.getPlotItem().getAxis("bottom")
        unit_width, _ = self.getPlotItem().getViewBox().viewPixelSize()  # view units per pixel
        cell = 1 / max(unit_width, 1e-9)  # one cell is one view unit (the aspect is locked)
        chars = int(cell / max(1, QtGui.QFontMetrics(axis.font()).averageCharWidth()))
        names = [fit_name(name, chars) for name in self.classes]
        axis.setTicks([list(enumerate_ticks(names))])

    def _cell_text(self) -> pg.TextItem:
        text = pg.TextItem("", anchor=(0.5, 0.5))
        font = text.textItem.font()
        font.setPointSize(11)
        font.setBold(True)
        text.setFont(font)
        self.getPlotItem().addItem(text)
        return text


def enumerate_ticks(names: Sequence[str]) -> list[tuple[float, str]]:
    return [(k + 0.5, name) for k, name in enumerate(names)]


def fit_name(name: str, chars: int) -> str:
    """``name`` within ``chars`` characters (at least 3 and a dot: 'malignant' -> 'mal.')."""
    if len(name) <= chars:
        return name
    return name[: max(3, chars - 1)] + "."
