"""The study's figures (PNG at 300 dpi for print + SVG), drawn to go into a paper as they are:
colour-blind-safe colours (Okabe & Ito) with distinct markers and line styles too, axes named
with units, legends that carry the numbers, no chart junk.

* ``roc``          mean cross-validation ROC per model, AUC mean ± s.d. in the legend
* ``auc_vs_macs``  CV AUC (mean ± s.d.) against multiply-accumulates per image (log x), with
  the Pareto front (no other model is both cheaper and better) as a dashed step line
"""

from __future__ import annotations

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _style(plt)
    done = [r for r in rows if r.get("status") == "finished" and r.get("cv_auc_mean") is not None]
    done.sort(key=lambda r: -(r["cv_auc_mean"] or 0))
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

    fig, ax = plt.subplots(figsize=(3.5, 3.0))
    pts = [r for r in done if r.get("macs")]
    front = stats.pareto_front([r["macs"] for r in pts], [r["cv_auc_mean"] for r in pts])
    for k, r in enumerate(pts):
        ax.errorbar(
            r["macs"] / 1e9,
            r["cv_auc_mean"],
            yerr=r["cv_auc_std"] or 0,
            fmt=MARKERS[k % len(MARKERS)],
            color=COLOURS[k % len(COLOURS)],
            ms=5,
            capsize=2,
            lw=0.9,
            label=_label(r, rows),
        )
    if front:
        xs = [pts[i]["macs"] / 1e9 for i in front]
        ys = [pts[i]["cv_auc_mean"] for i in front]
        ax.step(xs, ys, where="post", color="0.35", lw=0.9, ls="--", label="Pareto front", zorder=0)
    ax.set_xscale("log")
    ax.set(xlabel="GMACs per image (log scale)", ylabel="CV ROC AUC (mean ± s.d.)")
    if pts:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    _save(fig, folder / "auc_vs_macs")
    plt.close(fig)


def _save(fig: Any, stem: Path) -> None:
    fig.savefig(stem.with_suffix(".png"), dpi=300)
    fig.savefig(stem.with_suffix(".svg"))
