"""The study view's two plots: the mean cross-validation ROC of the best runs, and CV AUC
against MACs per image (log scale) with the Pareto front outlined. Filled from the study's
rows (``training.study_report.study_rows``); ``label(row)`` names a run as the table does."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from medview.ui.plots import FOLD_COLORS, fix_unit_square

MARKERS = ("o", "s", "t", "d", "t1", "p", "h", "star")
Row = dict[str, Any]


def fill_roc(plot: pg.PlotWidget, done: list[Row], label: Callable[[Row], str]) -> None:
    """The mean CV ROC of the 8 best finished runs (``done``, best first), the best widest."""
    plot.clear()
    legend = plot.getPlotItem().legend
    if legend is not None:
        legend.clear()
    plot.plot([0, 1], [0, 1], pen=pg.mkPen("#999", width=1, style=Qt.PenStyle.DotLine))
    styles = (
        Qt.PenStyle.SolidLine,
        Qt.PenStyle.DashLine,
        Qt.PenStyle.DashDotLine,
        Qt.PenStyle.DotLine,
    )
    for k, r in enumerate(done[:8]):
        roc = r.get("roc_mean")
        if not roc:
            continue
        pen = pg.mkPen(
            FOLD_COLORS[k % len(FOLD_COLORS)], width=2.5 if k == 0 else 1.6, style=styles[k % 4]
        )
        plot.plot(
            roc["fpr"],
            roc["tpr_mean"],
            pen=pen,
            name=f"{label(r)}  {r['cv_auc_mean']:.3f} ± {r['cv_auc_std'] or 0:.3f}",
        )
    fix_unit_square(plot)


def fill_cost(
    plot: pg.PlotWidget, done: list[Row], label: Callable[[Row], str], scale: float, unit: str
) -> None:
    """CV AUC (± SD) against MACs per image / ``scale`` (``unit``), log scale, the Pareto
    front outlined and joined by a staircase."""
    from training.stats import pareto_front

    plot.clear()
    pts = [r for r in done if r.get("macs")]
    plot.getPlotItem().setLabel("bottom", f"{unit} per image (log scale)")
    front = pareto_front([r["macs"] for r in pts], [r["cv_auc_mean"] for r in pts])
    for k, r in enumerate(pts):
        _cost_point(plot, k, r, r["macs"] / scale, label(r), on_front=k in front)
    if len(front) > 1:
        xs = [pts[i]["macs"] / scale for i in front]
        _pareto_steps(plot, xs, [pts[i]["cv_auc_mean"] for i in front])
    if pts:
        lo = math.log10(min(r["macs"] for r in pts) / scale)
        hi = math.log10(max(r["macs"] for r in pts) / scale)
        pad = max(0.15, 0.1 * (hi - lo))
        plot.setXRange(lo - pad, hi + 2 * pad, padding=0)
    plot.getPlotItem().setTitle(
        "CV AUC against cost (black outline: Pareto-optimal)", color="#222", size="10pt"
    )


def _cost_point(plot: pg.PlotWidget, k: int, r: Row, x: float, text: str, on_front: bool) -> None:
    color = FOLD_COLORS[k % len(FOLD_COLORS)]
    sd = r.get("cv_auc_std") or 0
    if sd:
        # ErrorBarItem does not follow log mode: give it log10(x)
        plot.addItem(
            pg.ErrorBarItem(
                x=np.array([math.log10(x)]),
                y=np.array([r["cv_auc_mean"]]),
                height=np.array([2 * sd]),
                beam=0,
                pen=pg.mkPen(color, width=1.2),
            )
        )
    plot.plot(
        [x],
        [r["cv_auc_mean"]],
        pen=None,
        symbol=MARKERS[k % len(MARKERS)],
        symbolSize=11 if on_front else 9,
        symbolBrush=color,
        symbolPen=pg.mkPen("#111", width=1.6 if on_front else 0.6),
    )
    item = pg.TextItem(text, color="#222", anchor=(0, 1))
    item.setPos(math.log10(x), r["cv_auc_mean"])
    plot.addItem(item)


def _pareto_steps(plot: pg.PlotWidget, xs: list[float], ys: list[float]) -> None:
    """The Pareto front as a staircase through its points."""
    step_x, step_y = [xs[0]], [ys[0]]
    for x, y in zip(xs[1:], ys[1:], strict=True):
        step_x += [x, x]
        step_y += [step_y[-1], y]
    plot.plot(step_x, step_y, pen=pg.mkPen("#555", width=1.2, style=Qt.PenStyle.DashLine))
