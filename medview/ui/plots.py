"""Live plots of a run (pyqtgraph): loss and validation AUC per fold, ROC per fold and mean,
the confusion matrix (current fold while running, pooled out-of-fold at the end), and the
metrics tables (folds; per class for multiclass runs). Every plot saves as PNG or SVG, the
tables as CSV.

Plots are fed message by message (``add_epoch``, ``add_fold``) and can be rebuilt from a run
folder (``load_run``: history.csv + metrics.json), so a past run looks like a live one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from medview.core import messages as msg
from medview.core.run_folder import RunFolder
from medview.ui.confusion_plot import ConfusionPlot as ConfusionPlot  # its old home
from medview.ui.level_rows import level_rows, level_summary
from medview.ui.metrics_table import MetricsTable
from medview.ui.per_class_table import PerClassTable
from medview.ui.plot_export import save_plot

# Okabe-Ito: distinguishable for colour-blind readers, on light and dark backgrounds.
FOLD_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
MEAN_COLOR = "#222222"


def fold_color(fold: int) -> str:
    return FOLD_COLORS[(max(fold, 1) - 1) % len(FOLD_COLORS)]


def _set_points(curve: pg.PlotDataItem, x: list, y: list) -> None:
    """A line, and a dot while there is one point only: a one-epoch run (or the first epoch)
    would otherwise show an empty plot."""
    pen = curve.opts["pen"]
    dot = {"symbol": "o", "symbolSize": 7, "symbolPen": pen, "symbolBrush": pen.color()}
    curve.setData(x, y, **(dot if len(x) == 1 else {"symbol": None}))


def _plot(title: str, x: str, y: str) -> pg.PlotWidget:
    widget = pg.PlotWidget(background="w")
    item = widget.getPlotItem()
    item.setTitle(title, color="#222", size="10pt")
    item.setLabel("bottom", x, color="#333")
    item.setLabel("left", y, color="#333")
    item.showGrid(x=True, y=True, alpha=0.2)
    for name in ("bottom", "left"):
        axis = item.getAxis(name)
        axis.setPen("#666")
        axis.setTextPen("#333")
        axis.enableAutoSIPrefix(False)  # a loss of 0.4 reads 0.4, not "400 (x0.001)"
    widget.setMinimumSize(220, 180)
    widget.setMenuEnabled(False)
    return widget


def fix_unit_square(widget: pg.PlotWidget) -> None:
    """ROC axes: exactly [0, 1] on both, whatever the widget's shape (no aspect lock, which
    would pad the short axis with meaningless negative rates)."""
    widget.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.02)
    widget.setMouseEnabled(x=False, y=False)
    widget.getPlotItem().hideButtons()


class LivePlots(QWidget):
    """The four plots and the table, fed by a run's messages or a run folder."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes: list[str] = []
        self.curves: dict[tuple[str, int], pg.PlotDataItem] = {}
        self.history: dict[int, list[msg.Epoch]] = {}
        self.fold_rocs: dict[int, dict[str, Any]] = {}
        self.fold_aucs: dict[int, float | None] = {}
        self._prepared: tuple[list[str], list[int], int] = ([], [], 0)
        self._build()

    def _build(self) -> None:
        self.loss_plot = _plot("Loss (solid: train, dashed: validation)", "epoch", "loss")
        self.auc_plot = _plot("Validation AUC", "epoch", "AUC")
        self.auc_plot.setYRange(0.0, 1.05, padding=0)  # an AUC of 1.0 stays off the frame
        self.roc_plot = _plot("ROC (validation)", "false positive rate", "true positive rate")
        fix_unit_square(self.roc_plot)
        self.confusion = ConfusionPlot()
        # Legends where the curves are not: loss falls (top right is free), AUC and ROC rise
        # (bottom right is free).
        for widget, offset in (
            (self.loss_plot, (-5, 5)),
            (self.auc_plot, (-5, -5)),
            (self.roc_plot, (-5, -5)),
        ):
            legend = widget.getPlotItem().addLegend(
                offset=offset, labelTextColor="#222", labelTextSize="8pt"
            )
            legend.setBrush(pg.mkBrush(255, 255, 255, 200))
        self.plots = {
            "loss": self.loss_plot,
            "auc": self.auc_plot,
            "roc": self.roc_plot,
            "confusion": self.confusion,
        }
        grid_host = QWidget()
        grid = QGridLayout(grid_host)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        for column, (name, widget) in enumerate(self.plots.items()):
            grid.addWidget(self._with_save(name, widget), 0, column)
            grid.setColumnStretch(column, 1)
        self.table = MetricsTable("Fold")
        table_host = QWidget()
        tl = QVBoxLayout(table_host)
        tl.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.summary_label = QLabel("No run yet: choose a preset and press Train.")
        self.summary_label.setWordWrap(True)
        bar.addWidget(self.summary_label, 1)
        csv_button = QToolButton(text="Save CSV…", autoRaise=True)
        csv_button.setToolTip("Save the metrics table as CSV")
        csv_button.clicked.connect(self._save_table_dialog)
        bar.addWidget(csv_button)
        tl.addLayout(bar)
        # Folds (one row each, mean ± std, test) and, for multiclass runs, each class's metrics.
        self.tables = QTabWidget()
        self.tables.setDocumentMode(True)
        self.per_class = PerClassTable()
        self.tables.addTab(self.table, "Folds")
        self.tables.addTab(self.per_class, "Per class")
        self.tables.setTabToolTip(1, "Precision, recall, F1 of each class (multiclass runs)")
        self.tables.setTabVisible(1, False)
        # Slice-mode runs: slice, volume and patient metrics side by side (medview.ui.level_rows).
        self.levels = MetricsTable("Level", show_mean=False)
        self.tables.addTab(self.levels, "Slice / volume / patient")
        self.tables.setTabToolTip(2, "Slice-mode runs: each level's mean over folds and test")
        self.tables.setTabVisible(2, False)
        tl.addWidget(self.tables, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(grid_host)
        splitter.addWidget(table_host)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([300, 170])  # room for 3 folds and the mean row
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)

    def _with_save(self, name: str, widget: pg.PlotWidget) -> QWidget:
        # A small button in the plot's top-left corner (free of curves and title) rather than
        # a row under it: the dock's height goes to the plots and the table.
        button = QToolButton(widget, text="Save…", autoRaise=True)
        button.setToolTip(f"Save the {name} plot as PNG or SVG")
        button.setStyleSheet("QToolButton { color: #555; font-size: 8pt; padding: 0 2px; }")
        button.clicked.connect(lambda: self._save_plot_dialog(name))
        button.move(2, 2)
        return widget

    # ------------------------------------------------------------------ feeding
    def prepared_for(self, classes: Sequence[str], folds: Sequence[int], epochs: int) -> bool:
        return self._prepared == (list(classes), [int(f) for f in folds], int(epochs or 0))

    def reset(
        self, classes: Sequence[str] = (), folds: Sequence[int] = (), epochs: int = 0
    ) -> None:
        self._prepared = (list(classes), [int(f) for f in folds], int(epochs or 0))
        self.classes = list(classes)
        self.history = {}
        self.fold_rocs = {}
        self.fold_aucs = {}
        for widget in (self.loss_plot, self.auc_plot, self.roc_plot):
            widget.getPlotItem().clear()
            legend = widget.getPlotItem().legend
            if legend is not None:
                legend.clear()
        self.curves = {}
        self.roc_plot.plot([0, 1], [0, 1], pen=pg.mkPen("#999", width=1, style=Qt.PenStyle.DotLine))
        self.confusion.set_matrix(
            np.zeros((len(classes), len(classes))), classes, "Confusion matrix"
        )
        self.table.clear_rows()
        self.per_class.clear_rows()
        self.levels.clear_rows()
        self.tables.setTabVisible(2, False)
        self.tables.setTabVisible(1, len(classes) > 2)
        planned = f"{len(folds)} fold(s)" + (f" × {epochs} epochs" if epochs else "")
        self.summary_label.setText(f"{planned} planned" if folds else "")
        # Every planned fold's curves (and legend rows) exist before the first epoch, so an
        # epoch only moves data and never re-lays out a legend while the user works.
        for fold in folds:
            self._fold_curves(int(fold))
        for widget in (self.loss_plot, self.auc_plot):
            axis = widget.getPlotItem().getAxis("bottom")
            if epochs > 1:  # the x axis is known: no re-ranging (and re-ticking) every epoch
                widget.setXRange(1, epochs, padding=0.03)
                step = max(1, -(-epochs // 8))  # whole epochs only, at most ~8 labels
                axis.setTickSpacing(step, step)
            else:
                widget.enableAutoRange(x=True)
                axis.setTickSpacing()

    def _fold_curves(self, f: int) -> tuple[pg.PlotDataItem, pg.PlotDataItem, pg.PlotDataItem]:
        return (
            self._curve(self.loss_plot, "train", f, False, f"fold {f}"),
            self._curve(self.loss_plot, "val", f, True, None),
            self._curve(self.auc_plot, "auc", f, False, f"fold {f}"),
        )

    def _curve(
        self, plot: pg.PlotWidget, key: str, fold: int, dashed: bool, label: str | None
    ) -> pg.PlotDataItem:
        curve = self.curves.get((key, fold))
        if curve is None:
            style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
            pen = pg.mkPen(fold_color(fold), width=2, style=style)
            # Lines only: per-point symbols doubled the repaint at every epoch.
            curve = plot.plot([], [], pen=pen, name=label)
            self.curves[(key, fold)] = curve
        return curve

    def add_epoch(self, epoch: msg.Epoch) -> None:
        rows = self.history.setdefault(epoch.fold, [])
        rows[:] = [r for r in rows if r.epoch != epoch.epoch] + [epoch]
        rows.sort(key=lambda r: r.epoch)
        x = [r.epoch for r in rows]
        f = epoch.fold
        _set_points(self._curve(self.loss_plot, "train", f, False, f"fold {f}"), x,
                    [r.train_loss for r in rows])  # fmt: skip
        _set_points(self._curve(self.loss_plot, "val", f, True, None), x,
                    [r.val_loss for r in rows])  # fmt: skip
        if epoch.confusion and self.classes:  # engines that report it: live at each epoch
            title = f"Confusion, fold {f} (epoch {epoch.epoch})"
            self.confusion.set_matrix(epoch.confusion, self.classes, title)
            self.confusion.source = ("epoch", f)
        aucs = [(r.epoch, r.val_auc) for r in rows if r.val_auc is not None]
        if aucs:
            _set_points(self._curve(self.auc_plot, "auc", f, False, f"fold {f}"),
                        [a for a, _ in aucs], [b for _, b in aucs])  # fmt: skip

    def add_fold(self, done: msg.FoldDone) -> None:
        metrics = dict(done.metrics)
        auc = metrics.get("roc_auc")
        self.fold_aucs[done.fold] = auc
        if done.roc:
            self.fold_rocs[done.fold] = done.roc
            label = f"fold {done.fold} (AUC {auc:.3f})" if auc is not None else f"fold {done.fold}"
            self.roc_plot.plot(
                done.roc["fpr"],
                done.roc["tpr"],
                pen=pg.mkPen(fold_color(done.fold), width=1.5),
                name=label,
            )
        if metrics.get("confusion") and self.classes:
            self.confusion.set_matrix(
                metrics["confusion"], self.classes, f"Confusion, fold {done.fold}"
            )
            self.confusion.source = ("fold", done.fold)
        self.table.set_row(str(done.fold), metrics)
        self.per_class.add_fold(done.fold, metrics)
        self._fit_table()
        self._update_mean_roc()

    def _fit_table(self) -> None:
        """Give the table the height its rows need (up to half the panel), plots the rest."""
        rows = self.table.rowCount()
        need = self.table.horizontalHeader().height() + 22 * rows + 34  # + summary line
        total = sum(self.splitter.sizes())
        if total > 0:
            need = min(max(need, 90), total // 2)
            self.splitter.setSizes([total - need, need])

    def _update_mean_roc(
        self, mean: dict[str, Any] | None = None, auc: tuple[float, float] | None = None
    ) -> None:
        curve = self.curves.get(("roc_mean", 0))
        if mean is None:
            if len(self.fold_rocs) < 2:
                return
            tprs = np.vstack([np.asarray(r["tpr"]) for r in self.fold_rocs.values()])
            mean = {
                "fpr": next(iter(self.fold_rocs.values()))["fpr"],
                "tpr_mean": tprs.mean(axis=0).tolist(),
            }
            values = [v for v in self.fold_aucs.values() if v is not None]
            auc = (
                (float(np.mean(values)), float(np.std(values, ddof=1))) if len(values) > 1 else None
            )
        label = "mean" + (f" (AUC {auc[0]:.3f} ± {auc[1]:.3f})" if auc else "")
        legend = self.roc_plot.getPlotItem().legend
        if curve is not None and legend is not None:
            # Move the curve and rename its legend row: no remove/re-add, no legend relayout.
            curve.setData(mean["fpr"], mean["tpr_mean"])
            for sample, text in legend.items:
                if sample.item is curve:
                    text.setText(label)
            return
        curve = self.roc_plot.plot(
            mean["fpr"], mean["tpr_mean"], pen=pg.mkPen(MEAN_COLOR, width=3), name=label
        )
        self.curves[("roc_mean", 0)] = curve

    def set_final(self, metrics: dict[str, Any]) -> None:
        """At the end: pooled confusion, the engine's mean ROC, the summary line."""
        classes = metrics.get("classes") or self.classes
        self.classes = list(classes)
        if metrics.get("pooled_confusion"):
            self.confusion.set_matrix(
                metrics["pooled_confusion"], classes, "Confusion, pooled out-of-fold"
            )
            self.confusion.source = ("pooled", 0)
        auc = (metrics.get("summary") or {}).get("roc_auc") or {}
        if metrics.get("roc_mean") and len(metrics.get("folds", [])) > 1:
            stats = (auc["mean"], auc["std"]) if auc.get("mean") is not None else None
            self._update_mean_roc(metrics["roc_mean"], stats)
        test = metrics.get("test") or {}
        self.per_class.set_test(test)
        self.tables.setTabVisible(1, self.per_class.has_data)
        if test:  # the fold models' ensemble on the held-out test items
            n = test.get("n_models")
            self.table.set_extra_row(
                f"test ({n} models)" if n else "test", {**test, "n_val": test.get("n")}
            )
            if test.get("roc"):
                auc_text = (
                    f" (AUC {test['roc_auc']:.3f})" if test.get("roc_auc") is not None else ""
                )
                self.roc_plot.plot(
                    test["roc"]["fpr"],
                    test["roc"]["tpr"],
                    pen=pg.mkPen("#D55E00", width=2.5, style=Qt.PenStyle.DashLine),
                    name=f"test ensemble{auc_text}",
                )
            self._fit_table()
        volume = metrics.get("unit") == "volume"  # slice mode: the fold rows are per volume
        self.table.horizontalHeaderItem(0).setText("Fold (volumes)" if volume else self.table.first)
        self.roc_plot.setTitle("ROC (validation, per volume)" if volume else "ROC (validation)")
        self.auc_plot.setTitle("Validation AUC (per slice)" if volume else "Validation AUC")
        self.levels.clear_rows()
        for name, row in level_rows(metrics):  # slice mode: slice, volume, patient levels
            self.levels.set_row(name, row)
        self.tables.setTabVisible(2, bool(self.levels.rows))
        if self.levels.rows:
            self.tables.setCurrentWidget(self.levels)
        summary = metrics.get("summary") or {}
        parts = []
        for key, title in (("accuracy", "accuracy"), ("roc_auc", "AUC"), ("f1", "F1")):
            s = summary.get(key) or {}
            if s.get("mean") is not None:
                parts.append(f"{title} {s['mean']:.3f} ± {s.get('std') or 0:.3f}")
        status = metrics.get("status", "finished")
        unit = " (per volume)" if metrics.get("unit") == "volume" else ""
        self.summary_label.setText(
            f"<b>{metrics.get('model', '')}</b> — {status}; mean over folds{unit}: "
            + ", ".join(parts)
            + level_summary(metrics)
            if parts
            else f"{metrics.get('model', '')} — {status}"
        )

    # ------------------------------------------------------------------ past runs
    def load_run(self, run_dir: str | Path) -> bool:
        """Rebuild every plot from a run folder; False when it has no metrics yet."""
        folder = RunFolder(run_dir)
        metrics = folder.read_metrics()
        if metrics is None:
            self.reset()
            self.summary_label.setText(f"{folder.run_id}: no metrics (the run stopped early)")
            return False
        folds = [int(f["fold"]) for f in metrics.get("folds", [])]
        try:
            history = read_history(folder)
        except (OSError, ValueError, KeyError):
            history = []  # a damaged history: the other plots still show
        epochs = max((r.epoch for r in history), default=0)
        self.reset(metrics.get("classes", []), folds, epochs)
        for row in history:
            self.add_epoch(row)
        for fm in metrics.get("folds", []):
            metrics_only = {k: v for k, v in fm.items() if k != "roc"}
            self.add_fold(msg.FoldDone("", int(fm["fold"]), metrics_only, fm.get("roc")))
        self.set_final(metrics)
        return True

    # ------------------------------------------------------------------ saving
    def save_plot(self, name: str, path: str | Path) -> Path:
        return save_plot(self.plots[name], path)

    def _save_plot_dialog(self, name: str) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, f"Save the {name} plot", f"{name}.png", "PNG image (*.png);;SVG drawing (*.svg)"
        )
        if path:
            self.save_plot(name, path)

    def _save_table_dialog(self) -> None:
        shown = self.tables.currentWidget()
        names = {id(self.per_class): "metrics_per_class.csv", id(self.levels): "metrics_levels.csv"}
        name = names.get(id(shown), "metrics.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Save the metrics", name, "CSV (*.csv)")
        if path:
            (shown if shown in (self.per_class, self.levels) else self.table).save_csv(path)


def read_history(folder: RunFolder) -> list[msg.Epoch]:
    """history.csv rows as Epoch messages (through RunFolder: training.report loads sklearn)."""
    return [
        msg.Epoch(
            "",
            int(row["fold"]),
            int(row["epoch"]),
            0,
            row.get("train_loss") or 0.0,
            row.get("val_loss") or 0.0,
            row.get("val_auc"),
            row.get("val_accuracy"),
        )
        for row in folder.read_history()
    ]
