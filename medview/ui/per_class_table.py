"""The per-class tab of a multiclass run: precision, recall, F1, specificity and one-vs-rest AUC
of each class, with the macro and support-weighted averages, for the validation folds (mean ±
std over the folds, as the engine's ``per_class_summary``) and for the test split (the fold
models' ensemble). Values come from metrics.json's ``per_class`` (training/metrics.py)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from medview.ui.metrics_table import format_value

# (key in a class's metrics, column title, digits); None digits: an integer.
CLASS_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("support", "Support", None),
    ("precision", "Precision", 3),
    ("recall", "Recall", 3),
    ("f1", "F1", 3),
    ("specificity", "Specificity", 3),
    ("roc_auc", "ROC AUC", 3),
)
AUC_TIP = "One-vs-rest: this class against all others"


def averages(metrics: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The macro and weighted rows of one multiclass metrics dict."""
    n = metrics.get("n", metrics.get("n_val"))
    macro = {k: metrics.get(k) for k in ("precision", "recall", "f1", "specificity", "roc_auc")}
    weighted = {k: metrics.get(f"{k}_weighted") for k in ("precision", "recall", "f1")}
    return [
        ("macro average", {**macro, "support": n}),
        ("weighted average", {**weighted, "support": n}),
    ]


class PerClassTable(QTableWidget):
    """A row per class; a group of columns per part of the run: the validation folds (mean ±
    std), then the test split."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(0, len(CLASS_COLUMNS) + 1, parent)
        self.folds: dict[int, dict[str, Any]] = {}
        self.test: dict[str, Any] | None = None
        self.setHorizontalHeaderLabels(["Class", *[title for _, title, _ in CLASS_COLUMNS]])
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().setDefaultSectionSize(22)

    # ------------------------------------------------------------------ data
    def clear_rows(self) -> None:
        self.folds, self.test = {}, None
        self._rebuild()

    def add_fold(self, fold: int, metrics: dict[str, Any]) -> None:
        if metrics.get("per_class"):
            self.folds[fold] = metrics
            self._rebuild()

    def set_test(self, metrics: dict[str, Any] | None) -> None:
        self.test = metrics if metrics and metrics.get("per_class") else None
        self._rebuild()

    @property
    def has_data(self) -> bool:
        return bool(self.folds or self.test)

    def blocks(self) -> list[tuple[str, list[tuple[str, dict[str, str]]]]]:
        """(title, [(row name, column key -> shown text)]) per part, as the table shows."""
        out = []
        if self.folds:
            k = len(self.folds)
            title = f"Validation folds (mean ± std over {k} folds)" if k > 1 else "Validation"
            out.append((title, _mean_rows(list(self.folds.values()))))
        if self.test:
            n = self.test.get("n_models")
            title = f"Test split (ensemble of {n} models)" if n else "Test split"
            rows = [*self.test["per_class"].items(), *averages(self.test)]
            out.append((title, [(name, _texts(m)) for name, m in rows]))
        return out

    def _rebuild(self) -> None:
        """One row per class (then the averages); the folds' columns, then the test's beside
        them: five rows fit the results dock where two stacked blocks would scroll."""
        blocks = self.blocks()
        names = list(dict.fromkeys(name for _, rows in blocks for name, _ in rows))
        columns = [(t, key, title) for t, _ in blocks for key, title, _ in CLASS_COLUMNS]
        self.setColumnCount(1 + len(columns))
        self.setRowCount(len(names))
        self.setHorizontalHeaderItem(0, QTableWidgetItem("Class"))
        for c, (part, _key, title) in enumerate(columns, start=1):
            header = QTableWidgetItem(f"{title}\n{_short(part)}")
            header.setToolTip(part + (f"\n{AUC_TIP}" if _key == "roc_auc" else ""))
            self.setHorizontalHeaderItem(c, header)
        bold = QFont(self.font())
        bold.setBold(True)
        shade = QColor(213, 94, 0, 28)  # the test columns: the ROC's test colour, faint
        texts = {part: dict(rows) for part, rows in blocks}
        for r, name in enumerate(names):
            font = bold if name.endswith("average") else None
            self._set(r, 0, name, font)
            for c, (part, key, _) in enumerate(columns, start=1):
                text = texts[part].get(name, {}).get(key, "–")
                self._set(r, c, text, font, shade if part.startswith("Test") else None)

    def _set(
        self, row: int, column: int, text: str, font: QFont | None = None, fill: Any = None
    ) -> None:
        item = QTableWidgetItem(text)
        if column > 0:
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if font is not None:
            item.setFont(font)
        if fill is not None:
            item.setBackground(QBrush(fill))
        self.setItem(row, column, item)

    # ------------------------------------------------------------------ export
    def save_csv(self, path: str | Path) -> Path:
        """One line per row: part, class, then the shown values."""
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["part", "class", *[key for key, _, _ in CLASS_COLUMNS]])
            for title, rows in self.blocks():
                for name, texts in rows:
                    writer.writerow([title, name, *[texts.get(k, "") for k, _, _ in CLASS_COLUMNS]])
        return path


def _short(part: str) -> str:
    """A header's second line: which part of the run the column is about."""
    if part.startswith("Test"):
        return "test"
    return "folds" if "folds" in part else "validation"


def _texts(metrics: dict[str, Any]) -> dict[str, str]:
    return {key: format_value(metrics.get(key), digits) for key, _, digits in CLASS_COLUMNS}


def _mean_rows(folds: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, str]]]:
    """Each class (then the averages) as mean ± std over the folds (sample std, ddof=1)."""
    names = list(folds[0]["per_class"])
    per_fold = [{**fm["per_class"], **dict(averages(fm))} for fm in folds]
    rows = []
    for name in [*names, "macro average", "weighted average"]:
        texts = {}
        for key, _, digits in CLASS_COLUMNS:
            got = [_number(part.get(name, {}).get(key)) for part in per_fold]
            values = [v for v in got if v is not None]
            texts[key] = _mean_text(values, digits, total=key == "support")
        rows.append((name, texts))
    return rows


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _mean_text(values: list[float], digits: int | None, total: bool) -> str:
    if not values:
        return "–"
    if total:  # support: items over all folds, not a mean
        return f"{int(sum(values))}"
    d = 3 if digits is None else digits
    if len(values) == 1:
        return f"{values[0]:.{d}f}"
    return f"{np.mean(values):.{d}f} ± {np.std(values, ddof=1):.{d}f}"
