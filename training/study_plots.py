"""The study's figures (PNG at 300 dpi for print + SVG), drawn to go into a paper as they are:
colour-blind-safe colours (Okabe & Ito) with distinct markers and line styles too, axes named
with units, legends that carry the numbers, no chart junk.

* ``roc``          mean cross-validation ROC per model, AUC mean ± s.d. in the legend
* ``auc_vs_macs``  CV AUC (mean ± s.d.) against multiply-accumulates per image (log x), with
  the Pareto front (no other model is both cheaper and better) as a dashed step line
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from training import stats

# Okabe & Ito (2008), black last: readable in grey-scale print and by colour-blind readers.
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
LINESTYLES = ["-", "--", "-.", ":"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def _style(plt: Any) -> None:
    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "svg.fonttype": "none",  # text stays text in the SVG (editable, searchable)
        }
    )


def _label(row: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    same = [r for r in rows if r["model"] == row["model"]]
    return str(row["model"]) if len(same) == 1 else str(row["run_id"])


def write_study_plots(folder: Path, rows: list[dict[str, Any]], best: str | None) -> None:
    """roc.png/.svg (every finished model's mean ROC curve) and auc_vs_macs.png/.svg (AUC
    against compute, Pareto front marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _style(plt)
    done = [r for r in rows if r.get("status") == "finished" and r.get("cv_auc_mean") is not None]
    done.sort(key=lambda r: -(r["cv_auc_mean"] or 0))
    _roc_figure(plt, folder, done, rows, best)
    _cost_figure(plt, folder, done, rows)


def _roc_figure(
    plt: Any, folder: Path, done: list[dict[str, Any]], rows: list[dict[str, Any]], best: str | None
) -> None:
    folds = max((len(r.get("fold_aucs") or {}) for r in done), default=0)
    fig, ax = plt.subplots(figsize=(3.5, 3.4))  # one column of a two-column paper
    for k, r in enumerate(done):
        roc = r.get("roc_mean")
        if not roc:
            continue
        ax.plot(
            roc["fpr"],
            roc["tpr_mean"],
            color=COLOURS[k % len(COLOURS)],
            ls=LINESTYLES[k % len(LINESTYLES)],
            lw=1.6 if r["run_id"] == best else 1.1,
            label=f"{_label(r, rows)}  {r['cv_auc_mean']:.3f} ± {r['cv_auc_std'] or 0:.3f}",
        )
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate")
    ax.set_aspect("equal")
    ax.legend(
        loc="lower right", fontsize=7, title=f"AUC, mean ± s.d. ({folds} folds)", title_fontsize=7
    )
    fig.tight_layout()
    _save(fig, folder / "roc")
    plt.close(fig)


def _cost_figure(
    plt: Any, folder: Path, done: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> None:
    """AUC against MACs per image, one marker per model, the Pareto front circled."""
    fig, ax = plt.subplots(figsize=(3.5, 3.0))
    pts = [r for r in done if r.get("macs")]
    # MACs in the unit that keeps the numbers readable (MMACs for small inputs, else GMACs)
    scale, unit = (1e6, "MMACs") if pts and max(r["macs"] for r in pts) < 1e9 else (1e9, "GMACs")
    for k, r in enumerate(pts):
        x = r["macs"] / scale
        ax.errorbar(
            x,
            r["cv_auc_mean"],
            yerr=r["cv_auc_std"] or 0,
            fmt=MARKERS[k % len(MARKERS)],
            color=COLOURS[k % len(COLOURS)],
            ms=5,
            capsize=2,
            lw=0.9,
        )
        # a label near an earlier point's goes below its own point, not over the other one
        crowded = any(
            abs(math.log10(x) - math.log10(q["macs"] / scale)) < 0.3
            and abs(r["cv_auc_mean"] - q["cv_auc_mean"]) < 0.04
            for q in pts[:k]
        )
        ax.annotate(
            _label(r, rows),
            (x, r["cv_auc_mean"]),
            xytext=(5, -10) if crowded else (5, 4),
            textcoords="offset points",
            fontsize=7,
        )
    _cost_axes(ax, pts, scale, unit)
    fig.tight_layout()
    _save(fig, folder / "auc_vs_macs")
    plt.close(fig)


def _cost_axes(ax: Any, pts: list[dict[str, Any]], scale: float, unit: str) -> None:
    """The Pareto front, the log-scale axis with readable ticks, the legend and labels."""
    front = stats.pareto_front([r["macs"] for r in pts], [r["cv_auc_mean"] for r in pts])
    if front:
        xs = [pts[i]["macs"] / scale for i in front]
        ys = [pts[i]["cv_auc_mean"] for i in front]
        ax.plot(
            xs,
            ys,
            "o",
            ms=10,
            mfc="none",
            mec="0.2",
            mew=0.8,
            label="Pareto-optimal",
        )
        if len(front) > 1:
            ax.step(xs, ys, where="post", color="0.35", lw=0.9, ls="--", zorder=0)
    ax.set_xscale("log")
    if pts:
        lo = min(r["macs"] for r in pts) / scale
        hi = max(r["macs"] for r in pts) / scale
        ax.set_xlim(lo / 1.6, hi * 2.2)  # room for the labels right of the points
        from matplotlib.ticker import FuncFormatter, LogLocator

        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _p: ""))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        ax.legend(fontsize=7, loc="best")
    ax.set(xlabel=f"{unit} per image (log scale)", ylabel="CV ROC AUC (mean ± s.d.)")


def _save(fig: Any, stem: Path) -> None:
    fig.savefig(stem.with_suffix(".png"), dpi=300)
    fig.savefig(stem.with_suffix(".svg"))
