"""Run history: every run of the project (status, model, date, key metrics); open one's plots,
compare several side by side (metrics table + overlaid mean ROC), run one again with the same
settings (medview.ui.run_again), export its model (medview.ui.model_actions), delete one.

Everything here reads the project's runs table and the run folders' metrics.json (small
files); nothing imports the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from medview.core.errors import MedviewError
from medview.core.project import Project, Run
from medview.core.run_folder import RunFolder
from medview.ui.metrics_table import MetricsTable, format_value
from medview.ui.plots import FOLD_COLORS, _plot, fit_legend, fix_unit_square, save_plot

COLUMNS = ("In view", "Run", "Status", "Model", "Started", "Accuracy", "ROC AUC", "F1", "Folds")
VIEW_COLUMN, STATUS_COLUMN = 0, 2
IN_VIEW, NOT_IN_VIEW = "◉", "○"  # one click on ○ puts that run in view
STATUS_COLORS = {
    "finished": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#ef6c00",
    "running": "#1565c0",
    "interrupted": "#ef6c00",
}


def _mean(metrics: dict[str, Any], key: str) -> str:
    s = (metrics.get("summary") or {}).get(key) or {}
    if s.get("mean") is None:
        return "–"
    return f"{s['mean']:.3f} ± {s.get('std') or 0:.3f}"


def read_metrics(project: Project, run: Run) -> dict[str, Any]:
    """metrics.json of the run folder (has the ROC curves), else the database's copy."""
    return RunFolder.of(project, run.id).read_metrics() or run.metrics or {}


class RunHistory(QWidget):
    runSelected = Signal(str)  # put this run in view (predictions, plots, Grad-CAM, ...)
    openRequested = Signal(str)  # show this run's plots
    deleted = Signal(list)  # run ids: their predictions are gone too
    rerunRequested = Signal(str)  # start a new run with this run's settings
    exportRequested = Signal(str)  # write this run's model as ONNX / TorchScript

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.runs: list[Run] = []
        self._build()
        self._selection_changed()  # the buttons' enabled state for no selection

    def _build(self) -> None:
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(lambda *_: self.open_selected())
        self.table.cellClicked.connect(self._cell_clicked)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        buttons = self._build_buttons()
        top = QWidget()
        ll = QVBoxLayout(top)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(buttons)
        ll.addWidget(self.table, 1)
        self.compare_table = MetricsTable("Run", show_mean=False)
        self.compare_table.setToolTip("Mean over folds of each compared run")
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(top)
        left.addWidget(self.compare_table)
        left.setSizes([220, 120])
        self.compare_roc = _plot(
            "Mean ROC per run (select runs, Compare)", "false positive rate", "true positive rate"
        )
        legend = self.compare_roc.getPlotItem().addLegend(offset=(-5, -5), labelTextColor="#222")
        legend.setBrush(pg.mkBrush(255, 255, 255, 200))
        self.compare_roc.getPlotItem().getViewBox().sigResized.connect(
            lambda *_: fit_legend(self.compare_roc)
        )
        fix_unit_square(self.compare_roc)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.compare_roc)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)

    def _build_buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open plots")
        self.open_button.clicked.connect(self.open_selected)
        self.compare_button = QPushButton("Compare selected")
        self.compare_button.setToolTip("Select two or more runs (Ctrl+click)")
        self.compare_button.clicked.connect(self.compare_selected)
        self.rerun_button = QPushButton("Run again")
        self.rerun_button.setToolTip(
            "Start a new run with the selected run's settings (e.g. one that was interrupted)"
        )
        self.rerun_button.clicked.connect(self.rerun_selected)
        self.export_button = QPushButton("Export model…")
        self.export_button.setToolTip(
            "Write the fold ensemble as ONNX or TorchScript, with a JSON of its preprocessing"
        )
        self.export_button.clicked.connect(self.export_selected)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(lambda: self.delete_selected())
        for button in (
            self.open_button,
            self.compare_button,
            self.rerun_button,
            self.export_button,
            self.delete_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        return buttons

    # ------------------------------------------------------------------ data
    def set_project(self, project: Project | None) -> None:
        self.project = project
        self.compare_table.clear_rows()
        self.compare_roc.getPlotItem().clear()
        self.refresh()

    def refresh(self) -> None:
        self.runs = list(reversed(self.project.runs())) if self.project else []  # newest first
        in_view = self.project.run_in_view() if self.project else None
        self.table.setRowCount(len(self.runs))
        for r, run in enumerate(self.runs):
            m = run.metrics or {}
            values = (
                IN_VIEW if run.id == in_view else NOT_IN_VIEW,
                run.id,
                run.status,
                run.model or "",
                (run.started_at or "").replace("T", " ")[:19],
                _mean(m, "accuracy"),
                _mean(m, "roc_auc"),
                _mean(m, "f1"),
                str(len(m.get("folds", []))),
            )
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                if c == VIEW_COLUMN:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    item.setToolTip(
                        "The run in view: the item list's predictions, the plots, the "
                        "confusion filters, Grad-CAM and Predict unlabelled use it"
                        if run.id == in_view
                        else "Click to put this run in view"
                    )
                if c == STATUS_COLUMN:
                    item.setForeground(pg.mkColor(STATUS_COLORS.get(run.status, "#333")))
                    if run.message:
                        item.setToolTip(run.message)
                self.table.setItem(r, c, item)
        self._selection_changed()

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.runs[r].id for r in rows if r < len(self.runs)]

    def select_runs(self, run_ids: list[str]) -> None:
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for r, run in enumerate(self.runs):
            if run.id in run_ids:
                self.table.selectRow(r)
        self.table.setSelectionMode(mode)

    def _selection_changed(self) -> None:
        n = len(self.selected_ids())
        self.open_button.setEnabled(n == 1)
        self.compare_button.setEnabled(n >= 2)
        self.rerun_button.setEnabled(n == 1)
        self.export_button.setEnabled(n == 1)
        self.delete_button.setEnabled(n >= 1)

    # ------------------------------------------------------------------ actions
    def _cell_clicked(self, row: int, column: int) -> None:
        if column == VIEW_COLUMN and row < len(self.runs):
            self.show_run(self.runs[row].id)

    def show_run(self, run_id: str) -> None:
        """Put this run in view (one click on its ○), and open its plots."""
        self.runSelected.emit(run_id)
        self.openRequested.emit(run_id)
        self.refresh()

    def open_selected(self) -> str | None:
        ids = self.selected_ids()
        if not ids:
            return None
        self.show_run(ids[0])
        return ids[0]

    def rerun_selected(self) -> str | None:
        ids = self.selected_ids()
        if len(ids) != 1:
            return None
        self.rerunRequested.emit(ids[0])
        return ids[0]

    def export_selected(self) -> str | None:
        ids = self.selected_ids()
        if len(ids) != 1:
            return None
        self.exportRequested.emit(ids[0])
        return ids[0]

    def compare_selected(self) -> int:
        return self.compare(self.selected_ids())

    def compare(self, run_ids: list[str]) -> int:
        """Fill the comparison table (one row per run, mean over folds) and the ROC plot."""
        if self.project is None:
            return 0
        self.compare_table.clear_rows()
        plot = self.compare_roc.getPlotItem()
        plot.clear()
        if plot.legend is not None:
            plot.legend.clear()
        plot.plot([0, 1], [0, 1], pen=pg.mkPen("#999", style=Qt.PenStyle.DotLine))
        plot.setTitle("Mean ROC per run", color="#222", size="10pt")
        shown = 0
        for k, run_id in enumerate(run_ids):
            try:
                run = self.project.get_run(run_id)
            except MedviewError:
                continue
            metrics = read_metrics(self.project, run)
            summary = metrics.get("summary") or {}
            row = {key: (v or {}).get("mean") for key, v in summary.items()}
            self.compare_table.set_row(run.label, row)
            roc = metrics.get("roc_mean")
            if roc:
                auc = summary.get("roc_auc") or {}
                label = run.label
                if auc.get("mean") is not None:
                    label += f" (AUC {auc['mean']:.3f})"
                # Runs often share a curve (AUC 1.0 on easy data): vary the dash so none hides.
                styles = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine)
                pen = pg.mkPen(FOLD_COLORS[k % len(FOLD_COLORS)], width=2.5, style=styles[k % 3])
                plot.plot(roc["fpr"], roc["tpr_mean"], pen=pen, name=label)
            shown += 1
        fit_legend(self.compare_roc)
        return shown

    def delete_selected(self) -> list[str]:
        """Delete the selected runs that are not running, once the user said yes."""
        ids = self.selected_ids()
        if not ids or self.project is None:
            return []
        running = [i for i in ids if self.project.get_run(i).status == "running"]
        ids = [i for i in ids if i not in running]
        if ids:
            answer = QMessageBox.question(
                self,
                "Delete runs",
                f"Delete {len(ids)} run(s) with their folders, weights and predictions?\n"
                + "\n".join(ids),
            )
            if answer != QMessageBox.StandardButton.Yes:
                return []
        notes = []
        for run_id in ids:
            try:
                note = self.project.delete_run(run_id)
            except MedviewError as exc:
                note = str(exc)
            if note:
                notes.append(note)
        self.refresh()
        self.deleted.emit(ids)
        if notes:  # e.g. a run folder behind a link: forgotten, nothing outside touched
            QMessageBox.warning(self, "Delete runs", "\n\n".join(notes))
        return ids

    def save_roc(self, path: str | Path) -> Path:
        return save_plot(self.compare_roc, path)


__all__ = ["RunHistory", "format_value"]
