"""The metrics table: one row per fold (or per run when comparing), a mean ± std row, CSV export.

Mean and standard deviation are computed here from the rows shown, with the same convention
as the engine's summary (sample std, ddof=1; 0 for a single row), so the table reads the same
while a run is going and after it has ended.

The "Threshold" column says at which decision threshold each row's binary metrics are, and its
cells' tooltips where it was chosen: fold rows at the threshold chosen on the other folds'
out-of-fold predictions (cross-fitted, training/recipe/cross_fit.py; 0.5 in runs before issue 26),
the test row at the threshold chosen on all out-of-fold predictions, with a second "@ 0.5"
test row beside it (engine metrics.json ``test.at_0.5``). Multiclass rows show "–" (arg-max,
no threshold); precision, recall and F1 are macro averages there, with the support-weighted
F1 beside them (each class's values are in the "Per class" tab, medview/ui/per_class_table.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from medview.core import csv_cells
from medview.core.containment import atomic_text

# (key in the fold metrics, column title, digits); None digits: an integer.
METRIC_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("n_val", "n val", None),
    ("accuracy", "Accuracy", 3),
    ("precision", "Precision", 3),
    ("recall", "Recall", 3),
    ("specificity", "Specificity", 3),
    ("f1", "F1", 3),
    ("f1_weighted", "F1 weighted", 3),  # multiclass only: the column hides without values
    ("roc_auc", "ROC AUC", 3),
    ("threshold", "Threshold", 3),
    ("best_epoch", "Best epoch", None),
)
MULTICLASS_ONLY = ("f1_weighted",)
THRESHOLD_TIP = (
    "Decision threshold on calibrated P(positive) of each row's metrics: each fold at the "
    "threshold chosen on the other folds' out-of-fold predictions (so no fold is scored at a "
    "threshold chosen on itself); the test row at the one chosen on all out-of-fold "
    "predictions (Youden or --target-recall), and the '@ 0.5' row at 0.5 on raw P. "
    "Hover a cell for where it was chosen."
)
THRESHOLD_COLUMN = 1 + [key for key, _, _ in METRIC_COLUMNS].index("threshold")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(float(value)) else float(value)


def format_value(value: Any, digits: int | None) -> str:
    number = _number(value)
    if number is None:
        return "–"
    return f"{int(round(number))}" if digits is None else f"{number:.{digits}f}"


class MetricsTable(QTableWidget):
    """Rows of metrics (``first`` column names each row) with a bold mean ± std row."""

    def __init__(self, first: str = "Fold", parent: Any = None, show_mean: bool = True) -> None:
        super().__init__(0, len(METRIC_COLUMNS) + 1, parent)
        self.first = first
        self.show_mean = show_mean  # folds: yes; a comparison of different runs: no
        self.rows: list[tuple[str, dict[str, Any]]] = []
        # Shown below the mean and left out of it (the test-set ensemble of a run).
        self.extra: list[tuple[str, dict[str, Any]]] = []
        self.setHorizontalHeaderLabels([first, *[title for _, title, _ in METRIC_COLUMNS]])
        self.horizontalHeaderItem(THRESHOLD_COLUMN).setToolTip(THRESHOLD_TIP)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.verticalHeader().setDefaultSectionSize(22)

    # ------------------------------------------------------------------ data
    def clear_rows(self) -> None:
        self.rows = []
        self.extra = []
        self._rebuild()

    def set_row(self, name: str, metrics: dict[str, Any]) -> None:
        """Add or replace the row called ``name`` (a fold that ends twice is shown once)."""
        for k, (existing, _) in enumerate(self.rows):
            if existing == name:
                self.rows[k] = (name, dict(metrics))
                break
        else:
            self.rows.append((name, dict(metrics)))
        self._rebuild()

    def set_extra_row(self, name: str, metrics: dict[str, Any]) -> None:
        """A row below the mean (the test ensemble). Binary metrics carrying ``at_0.5`` (the
        engine's test metrics at the chosen threshold) get a second row at 0.5 beside it."""
        rows = [(name, dict(metrics))]
        at_half = metrics.get("at_0.5")
        if isinstance(at_half, dict) and metrics.get("threshold") not in (None, 0.5):
            half = {**at_half, "n_val": at_half.get("n", metrics.get("n_val")), "threshold": 0.5}
            rows = [(f"{name}, chosen threshold", dict(metrics)), (f"{name} @ 0.5", half)]
        names = {n for n, _ in rows} | {name}
        self.extra = [(n, m) for n, m in self.extra if n not in names] + rows
        self._rebuild()

    def summary(self) -> dict[str, tuple[float, float] | None]:
        """Mean and sample std per column over the rows (None where no row has a value)."""
        out: dict[str, tuple[float, float] | None] = {}
        for key, _, _ in METRIC_COLUMNS:
            values = [v for _, m in self.rows if (v := _number(m.get(key))) is not None]
            if not values:
                out[key] = None
                continue
            std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            out[key] = (float(np.mean(values)), std)
        return out

    def _rebuild(self) -> None:
        # Multiclass-only columns (weighted F1) stay out of a binary run's table.
        for c, (key, _, _) in enumerate(METRIC_COLUMNS, start=1):
            if key in MULTICLASS_ONLY:
                shown = any(m.get(key) is not None for _, m in self.rows + self.extra)
                self.setColumnHidden(c, not shown)
        show_mean = self.show_mean and len(self.rows) > 1
        first_extra = len(self.rows) + (1 if show_mean else 0)
        self.setRowCount(first_extra + len(self.extra))
        for r, (name, metrics) in enumerate(self.extra, start=first_extra):
            self._set(r, 0, name)
            for c, (key, _, digits) in enumerate(METRIC_COLUMNS, start=1):
                self._set(r, c, format_value(metrics.get(key), digits))
        for r, (name, metrics) in enumerate(self.rows):
            self._set(r, 0, name)
            for c, (key, _, digits) in enumerate(METRIC_COLUMNS, start=1):
                self._set(r, c, format_value(metrics.get(key), digits))
        shown = list(enumerate(self.rows)) + list(enumerate(self.extra, start=first_extra))
        for r, (_name, metrics) in shown:
            where, cell = metrics.get("threshold_chosen_on"), self.item(r, THRESHOLD_COLUMN)
            if where and cell is not None:
                cell.setToolTip(where if where.startswith("no ") else f"chosen on the {where}")
        if show_mean:
            r = len(self.rows)
            bold = QFont(self.font())
            bold.setBold(True)
            self._set(r, 0, "mean ± std", bold)
            for c, (key, _, digits) in enumerate(METRIC_COLUMNS, start=1):
                stats = self.summary()[key]
                text = "–"
                if stats is not None:
                    d = 1 if digits is None else digits
                    text = f"{stats[0]:.{d}f} ± {stats[1]:.{d}f}"
                self._set(r, c, text, bold)

    def _set(self, row: int, column: int, text: str, font: QFont | None = None) -> None:
        item = QTableWidgetItem(text)
        if column > 0:
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if font is not None:
            item.setFont(font)
            item.setBackground(QBrush(QColor(127, 127, 127, 40)))
        self.setItem(row, column, item)

    # ------------------------------------------------------------------ export
    def table_text(self) -> list[list[str]]:
        header = [self.horizontalHeaderItem(c).text() for c in range(self.columnCount())]
        body = [
            [self.item(r, c).text() if self.item(r, c) else "" for c in range(self.columnCount())]
            for r in range(self.rowCount())
        ]
        return [header, *body]

    def save_csv(self, path: str | Path) -> Path:
        """Full-precision values per row, then the mean and std as two rows."""
        path = Path(path)
        keys = [key for key, _, _ in METRIC_COLUMNS]
        with atomic_text(path) as fh:  # whole, never through a link
            writer = csv_cells.writer(fh)
            writer.writerow([self.first.lower(), *keys])
            for name, metrics in self.rows:
                writer.writerow([name, *[_csv(metrics.get(k)) for k in keys]])
            if self.rows:
                stats = self.summary()
                writer.writerow(["mean", *[_csv(s[0] if s else None) for s in stats.values()]])
                writer.writerow(["std", *[_csv(s[1] if s else None) for s in stats.values()]])
            for name, metrics in self.extra:
                writer.writerow([name, *[_csv(metrics.get(k)) for k in keys]])
        return path


def _csv(value: Any) -> str:
    number = _number(value)
    return "" if number is None else repr(number)


def rows_from_metrics(folds: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(str(f.get("fold", k + 1)), f) for k, f in enumerate(folds)]
