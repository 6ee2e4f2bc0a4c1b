"""A run's plots (PNG + SVG each, names in medview.core.run_folder): ROC and confusion of the
validation folds, the loss curves, and, when the run has a test split, the test ensemble's own
ROC and confusion (``roc_test``, ``confusion_test``). matplotlib with the Agg backend: no
display, no Qt (the worker and headless servers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medview.core.run_folder import RunFolder

TEST_COLOR = "#D55E00"


def write_plots(
    run_dir: Path,
    classes: Sequence[str],
    metrics: dict[str, Any],
    history: Sequence[dict[str, Any]],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    folder = RunFolder(run_dir)
    _roc_plot(folder.plot("roc"), classes, metrics)
    pooled = metrics.get("pooled_confusion") or np.zeros((len(classes), len(classes)))
    _confusion_plot(folder.plot("confusion"), classes, pooled, "out-of-fold confusion")
    _loss_plot(folder.plot("loss"), history)
    test = metrics.get("test") or {}
    if test.get("confusion"):
        title = f"{_test_name(test)} confusion"
        _confusion_plot(folder.plot("confusion_test"), classes, test["confusion"], title)
    if test.get("roc"):
        _test_roc_plot(folder.plot("roc_test"), classes, test)


def _test_name(test: dict[str, Any]) -> str:
    """ "test split", or "test ensemble of k" when several fold models averaged it."""
    n = test.get("n_models") or 1
    return f"test ensemble of {n}" if n > 1 else "test split"


def _roc_title(classes: Sequence[str]) -> str:
    return "ROC (one-vs-rest macro)" if len(classes) > 2 else f"ROC ({classes[1]} positive)"


def _roc_plot(stem: Path, classes: Sequence[str], metrics: dict[str, Any]) -> None:
    """Every fold, the mean and the ±1 std band, and the test ensemble dashed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for fm in metrics.get("folds", []):
        if fm.get("roc"):
            auc = fm.get("roc_auc")
            label = f"fold {fm['fold']}" + (f" (AUC {auc:.3f})" if auc is not None else "")
            ax.plot(fm["roc"]["fpr"], fm["roc"]["tpr"], lw=1, alpha=0.5, label=label)
    if metrics.get("roc_mean"):
        _mean_band(ax, metrics["roc_mean"], metrics.get("summary", {}).get("roc_auc", {}))
    test = metrics.get("test") or {}
    if test.get("roc"):
        label = f"test ensemble (AUC {test.get('roc_auc') or 0:.3f})"
        ax.plot(test["roc"]["fpr"], test["roc"]["tpr"], "--", color=TEST_COLOR, lw=2, label=label)
    _finish_roc(ax, _roc_title(classes))
    _save(fig, stem)


def _mean_band(ax: Any, mean: dict[str, Any], auc: dict[str, Any]) -> None:
    fpr, tpr = np.asarray(mean["fpr"]), np.asarray(mean["tpr_mean"])
    std = np.asarray(mean["tpr_std"])
    label = "mean"
    if auc.get("mean") is not None:
        label = f"mean (AUC {auc['mean']:.3f} ± {auc['std']:.3f})"
    ax.plot(fpr, tpr, color="black", lw=2, label=label)
    low, high = np.clip(tpr - std, 0, 1), np.clip(tpr + std, 0, 1)
    ax.fill_between(fpr, low, high, color="grey", alpha=0.25, label="± 1 std")


def _test_roc_plot(stem: Path, classes: Sequence[str], test: dict[str, Any]) -> None:
    """The test split alone: the fold models' ensemble on items no model trained on."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    auc = test.get("roc_auc")
    label = f"{_test_name(test)}, n={test.get('n')}"
    label += f" (AUC {auc:.3f})" if auc is not None else ""
    ax.plot(test["roc"]["fpr"], test["roc"]["tpr"], color=TEST_COLOR, lw=2, label=label)
    _finish_roc(ax, f"Test split: {_roc_title(classes)}")
    _save(fig, stem)


def _finish_roc(ax: Any, title: str) -> None:
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7)


def _confusion_plot(stem: Path, classes: Sequence[str], matrix: Any, title: str) -> None:
    """Counts and row-normalised, side by side."""
    import matplotlib.pyplot as plt

    cm = np.asarray(matrix)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    panels = ((axes[0], cm, "counts", "d"), (axes[1], norm, "row-normalised", ".2f"))
    for ax, data, kind, fmt in panels:
        ax.imshow(data, cmap="Blues", vmin=0)
        for (i, j), v in np.ndenumerate(data):
            color = "white" if data.max() and v > data.max() / 2 else "black"
            text = format(int(v) if fmt == "d" else v, fmt)
            ax.text(j, i, text, ha="center", va="center", color=color)
        ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        ax.set(xlabel="predicted", ylabel="true", title=f"{title} ({kind})")
    fig.tight_layout()
    _save(fig, stem)


def _loss_plot(stem: Path, history: Sequence[dict[str, Any]]) -> None:
    """Train (solid) and validation (dashed) loss per fold."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for fold in sorted({int(r["fold"]) for r in history}):
        rs = [r for r in history if int(r["fold"]) == fold]
        epochs = [r["epoch"] for r in rs]
        (line,) = ax.plot(epochs, [r["train_loss"] for r in rs], label=f"fold {fold} train")
        val = [r["val_loss"] for r in rs]
        ax.plot(epochs, val, "--", color=line.get_color(), label=f"fold {fold} val")
    ax.set(xlabel="epoch", ylabel="loss", title="training and validation loss")
    if history:
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, stem)


def _save(fig: Any, stem: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(stem.with_suffix(".png"), dpi=120)
    fig.savefig(stem.with_suffix(".svg"))
    plt.close(fig)
