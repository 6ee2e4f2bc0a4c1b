"""From a number to the images behind it: the shown run's plots, clickable.

- A click on a confusion-matrix cell (a finished fold's, the pooled out-of-fold one, or the
  test ensemble's) shows exactly those items in the browser and selects the first.
- A click on the ROC plot (binary runs) sets the decision threshold at the nearest point of
  the pooled out-of-fold ROC; the confusion matrix and the metrics table follow it.
- Quick filters for the shown run: false positives, false negatives, and wrong predictions
  most confident first (at the current threshold).

Item-level results come from the run folder's predictions.csv (rows per fold and the final
fold-0 rows), read through medview.core.csv_cells: the window never imports the engine. Grad-CAM of
the selected item is one key away (G: compute when missing, else show/hide; see
training_dock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtWidgets import QComboBox

from medview.core import csv_cells, decision
from medview.core.run_folder import METRICS, PREDICTIONS

if TYPE_CHECKING:
    from medview.ui.training_panel import TrainingPanel


@dataclass
class Row:
    item_id: int
    fold: int
    split: str | None
    true: int | None
    probs: list[float]  # calibrated where the run has a calibration
    threshold: float | None = None  # the run's own, per row (None: a file before issue 26)


def prob_columns(fields: list[str]) -> tuple[list[str], str]:
    """(classes, column prefix) of a predictions.csv header: ``p_<class>`` (and
    ``p_<class>_raw``, not read here) since issue 26, ``prob_<class>`` before."""
    new = [f.removeprefix("p_") for f in fields if f.startswith("p_") and not f.endswith("_raw")]
    if new:
        return new, "p_"
    return [f.removeprefix("prob_") for f in fields if f.startswith("prob_")], "prob_"


def read_rows(path: Path) -> tuple[list[str], list[Row]] | None:
    """(classes, rows) of a run folder's predictions.csv; None when missing or unreadable."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv_cells.DictReader(fh)
            classes, prefix = prob_columns(list(reader.fieldnames or []))
            index = {c: k for k, c in enumerate(classes)}
            rows = [
                Row(
                    int(raw["item_id"]),
                    int(raw["fold"]),
                    raw.get("split") or None,
                    index.get(raw.get("true") or ""),
                    [float(raw[f"{prefix}{c}"]) for c in classes],
                    float(raw["threshold"]) if raw.get("threshold") else None,
                )
                for raw in reader
            ]
    except (OSError, ValueError, KeyError):
        return None
    return classes, rows


class ResultClicks(QObject):
    thresholdChanged = Signal(float)
    itemsShown = Signal(list)  # item ids now shown in the browser

    VIEWS = {"Pooled out-of-fold": "pooled", "Test (fold ensemble)": "test"}

    def __init__(self, panel: TrainingPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.browser = panel.host.browser
        self.plots = panel.plots
        self.run_id: str | None = None
        self.classes: list[str] = []
        self.rows: list[Row] = []
        # One threshold for every row once the user picks one on the ROC; None: each row at
        # its run's own (validation rows: chosen on the other folds; test: on all of them).
        self.threshold: float | None = 0.5
        # The summary line as the run wrote it (set_threshold appends to it, never twice).
        self.summary_text = ""
        self.pooled_curve: pg.PlotDataItem | None = None  # the clickable pooled ROC
        self.marker = pg.ScatterPlotItem(
            size=11, brush=pg.mkBrush("#D55E00"), pen=pg.mkPen("w", width=1.5)
        )
        self.marker.setZValue(10)
        self.plots.confusion.scene().sigMouseClicked.connect(self._confusion_clicked)
        self.plots.roc_plot.scene().sigMouseClicked.connect(self._roc_clicked)
        # Which final matrix is shown: a small box in the confusion plot's top-right corner.
        self.view_box = QComboBox(self.plots.confusion)
        self.view_box.addItems(list(self.VIEWS))
        self.view_box.setToolTip("Confusion of the pooled out-of-fold or the test predictions")
        self.view_box.setStyleSheet("QComboBox { font-size: 8pt; }")
        self.view_box.currentIndexChanged.connect(lambda *_: self.show_matrix())
        self.view_box.hide()
        self.plots.confusion.installEventFilter(self)
        for key, title, provider in (
            ("fp", "False positives (shown run)", self.false_positives),
            ("fn", "False negatives (shown run)", self.false_negatives),
            ("wrong", "Wrong, most confident first", self.wrong_most_confident),
        ):
            self.browser.add_id_filter(key, title, provider)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if watched is self.plots.confusion and event.type() == QEvent.Type.Resize:
            self._place_view_box()
        return False

    def _place_view_box(self) -> None:
        box, host = self.view_box, self.plots.confusion
        box.adjustSize()
        box.move(max(0, host.width() - box.width() - 2), 2)

    # ------------------------------------------------------------------ data
    def load(self, run_id: str | None) -> bool:
        """Read the run's item-level results (after use_run, and when a run ends)."""
        self.run_id, self.classes, self.rows = run_id, [], []
        self.threshold = 0.5
        self.marker.setData([], [])
        project = self.panel.project
        read = None
        if project is not None and run_id:
            read = read_rows(project.runs_dir / run_id / PREDICTIONS)
        if read is not None:
            self.classes, self.rows = read
        has_test = any(r.fold == 0 and r.split == "test" for r in self.rows)
        self.view_box.setVisible(has_test)
        if has_test:
            self._place_view_box()
        self._draw_pooled_roc()
        self.summary_text = self.plots.summary_label.text()
        chosen = self.chosen_threshold()
        if self.rows and all(r.threshold is not None for r in self.rows):
            # Each row at the threshold the run scored it at: the table and the log agree.
            self.threshold = None
            self.show_matrix()
        elif chosen is not None and self.binary and self.rows and not math.isclose(chosen, 0.5):
            self.set_threshold(chosen)  # an earlier run folder: its one chosen threshold
        self.browser.refresh_id_filter()
        return read is not None

    def _draw_pooled_roc(self) -> None:
        """The pooled out-of-fold ROC, whose points a click picks (the per-fold curves and
        their mean are each fold's own ranking; the threshold applies to all items)."""
        plot = self.plots.roc_plot.getPlotItem()
        old = self.pooled_curve
        if old is not None and old in plot.items:
            plot.removeItem(old)
            if plot.legend is not None:
                plot.legend.removeItem(old)
        self.pooled_curve = None
        rows = self.rows_for(("pooled", 0))
        if not self.binary or len({r.true for r in rows}) < 2:
            return
        fpr, tpr, _ = decision.roc_points([r.true or 0 for r in rows], [r.probs[1] for r in rows])
        pen = pg.mkPen("#888", width=1.5, style=Qt.PenStyle.DashDotLine)
        self.pooled_curve = plot.plot(fpr, tpr, pen=pen, name="pooled (click: threshold)")

    def chosen_threshold(self) -> float | None:
        """The decision threshold the run chose on its out-of-fold predictions (metrics.json
        ``calibration.threshold``, when the engine wrote one), else None (0.5 applies)."""
        import json

        project = self.panel.project
        if project is None or not self.run_id:
            return None
        try:
            path = project.runs_dir / self.run_id / METRICS
            metrics = json.loads(path.read_text(encoding="utf-8"))
            value = (metrics.get("calibration") or {}).get("threshold")
        except (OSError, ValueError, AttributeError):
            return None
        return float(value) if isinstance(value, int | float) and 0 < value < 1 else None

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def predicted(self, row: Row) -> int:
        if self.binary:
            return int(row.probs[1] >= self.threshold_of(row))
        return int(np.argmax(row.probs))

    def threshold_of(self, row: Row) -> float:
        if self.threshold is not None:
            return self.threshold
        return row.threshold if row.threshold is not None else 0.5

    def rows_for(self, source: tuple[str, int]) -> list[Row]:
        kind, fold = source
        if kind in ("epoch", "fold"):
            return [r for r in self.rows if r.fold == fold and r.split == "val"]
        split = "test" if kind == "test" else "val"
        return [r for r in self.rows if r.fold == 0 and r.split == split and r.true is not None]

    def final_rows(self) -> list[Row]:
        """Every labelled item's final prediction (out-of-fold, and test ensemble)."""
        return [r for r in self.rows if r.fold == 0 and r.true is not None]

    # ------------------------------------------------------------------ clicks
    def cell_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(true, predicted) indexes of the confusion cell under a scene position, or None."""
        plot = self.plots.confusion
        if plot.matrix is None:
            return None
        point = plot.getPlotItem().getViewBox().mapSceneToView(scene_pos)
        n = plot.matrix.shape[0]
        row, col = int(np.floor(point.y())), int(np.floor(point.x()))
        return (row, col) if 0 <= row < n and 0 <= col < n else None

    def _confusion_clicked(self, event: Any) -> None:
        cell = self.cell_at(event.scenePos())
        if cell is not None:
            self.cell_clicked(*cell)

    def _roc_clicked(self, event: Any) -> None:
        view = self.plots.roc_plot.getPlotItem().getViewBox()
        point = view.mapSceneToView(event.scenePos())
        if -0.05 <= point.x() <= 1.05 and -0.05 <= point.y() <= 1.05:
            self.roc_clicked(float(point.x()), float(point.y()))

    def cell_clicked(self, true: int, predicted: int) -> list[int]:
        source = self.plots.confusion.source
        rows = self.rows_for(source)
        if not rows:
            what = f"fold {source[1]}" if source[0] in ("epoch", "fold") else "this run"
            self.panel.set_status(
                f"No item-level results for {what} yet: they are written when the fold ends."
            )
            return []
        ids = [r.item_id for r in rows if r.true == true and self.predicted(r) == predicted]
        names = self.classes
        title = f"True {names[true]}, predicted {names[predicted]} ({len(ids)})"
        self.browser.show_ids(ids, title)
        self.panel.set_status(f"{title}: shown in the items list. G: Grad-CAM of the selected.")
        self.itemsShown.emit(ids)
        return ids

    def roc_clicked(self, fpr: float, tpr: float) -> float | None:
        rows = self.rows_for(("pooled", 0))
        if not self.binary or not rows:
            return None
        true = [r.true or 0 for r in rows]
        p_pos = [r.probs[1] for r in rows]
        threshold, x, y = decision.threshold_near(true, p_pos, fpr, tpr)
        self.set_threshold(threshold)
        self.marker.setData([x], [y])
        plot = self.plots.roc_plot.getPlotItem()
        if self.marker not in plot.items:
            plot.addItem(self.marker)
        return threshold

    def set_threshold(self, threshold: float) -> None:
        """Recount the matrix and the table's threshold-dependent columns at ``threshold``."""
        self.threshold = float(threshold)
        table = self.plots.table
        for name, metrics in list(table.rows):
            if not name.isdigit():
                continue
            rows = [r for r in self.rows_for(("fold", int(name))) if r.true is not None]
            if rows:
                updated = decision.metrics_at(
                    [r.true or 0 for r in rows], [r.probs[1] for r in rows], self.threshold
                )
                table.set_row(name, {**metrics, **updated})
        for name, metrics in list(table.extra):
            rows = self.rows_for(("test", 0))
            if name.startswith("test") and rows:
                updated = decision.metrics_at(
                    [r.true or 0 for r in rows], [r.probs[1] for r in rows], self.threshold
                )
                table.set_extra_row(name, {**metrics, **updated, "n_val": len(rows)})
        self.show_matrix()
        # The summary line is the run's (at its own threshold); say that the table is not.
        base = self.summary_text or self.plots.summary_label.text()
        self.plots.summary_label.setText(
            f"{base} — <i>table and matrix at threshold {self.threshold:.3f}</i>"
        )
        self.browser.refresh_id_filter()
        self.panel.set_status(
            f"Decision threshold {self.threshold:.3f} (P({self.classes[1]}) at or above it is "
            f"called {self.classes[1]}); matrix and table recounted."
        )
        self.thresholdChanged.emit(self.threshold)

    def show_matrix(self) -> None:
        """The chosen final matrix (pooled or test) at the current threshold."""
        view = self.VIEWS.get(self.view_box.currentText(), "pooled")
        rows = self.rows_for((view, 0))
        if not rows or not self.classes:
            return
        n = len(self.classes)
        cm = np.zeros((n, n), dtype=int)
        for r in rows:
            cm[r.true or 0, self.predicted(r)] += 1
        title = "Confusion, pooled out-of-fold" if view == "pooled" else "Confusion, test"
        explained = ""
        if self.binary and self.threshold is None and view == "pooled":
            # The long form did not fit the plot's width and pushed a column out of sight.
            title = "Confusion, out-of-fold (cross-fitted)"
            explained = "each fold at the threshold chosen on the other folds' predictions"
        elif self.binary:
            shown = self.threshold_of(rows[0])
            title += f" @ {shown:.3f}" if not math.isclose(shown, 0.5) else ""
        self.plots.confusion.set_matrix(cm, self.classes, title)
        self.plots.confusion.setToolTip(explained)
        self.plots.confusion.source = (view, 0)

    # ------------------------------------------------------------------ quick filters
    def false_positives(self) -> tuple[list[int], bool]:
        if not self.binary:
            return [], False
        return [r.item_id for r in self.final_rows() if r.true == 0 and self.predicted(r)], False

    def false_negatives(self) -> tuple[list[int], bool]:
        if not self.binary:
            return [], False
        rows = self.final_rows()
        return [r.item_id for r in rows if r.true == 1 and not self.predicted(r)], False

    def wrong_most_confident(self) -> tuple[list[int], bool]:
        wrong = [r for r in self.final_rows() if self.predicted(r) != r.true]
        # Confidence in the (wrong) call: the probability of the class it predicted.
        wrong.sort(key=lambda r: -self._confidence(r))
        return [r.item_id for r in wrong], True

    def _confidence(self, row: Row) -> float:
        return row.probs[self.predicted(row)]
