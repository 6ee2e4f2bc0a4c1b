"""Slice mode's part of the run folder: ``slices.csv`` (one row per slice), ``patients.csv``
(one row per patient), metrics.json's ``levels`` (slice, volume and patient metrics side by
side, training.aggregate) and the ``levels`` plot. ``predictions.csv`` stays one row per
volume (training.report writes it)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medview.core.run_folder import LEVELS_PLOT, RunFolder
from training import aggregate as A
from training.report import PredRow, final_rows

LEVELS = ("slice", "volume", "patient")
PLOTTED: tuple[tuple[str, str], ...] = (
    ("roc_auc", "AUC"),
    ("accuracy", "accuracy"),
    ("recall", "sensitivity"),
    ("specificity", "specificity"),
    ("f1", "F1"),
)


def levels_block(
    classes: Sequence[str],
    folds: Sequence[int],
    slice_rows: Sequence[A.SliceRow],
    groups: Mapping[int, str | None],
    how: str,
) -> dict[str, Any]:
    """metrics.json's ``levels``: each level's per-fold, pooled out-of-fold and test metrics
    (threshold 0.5, uncalibrated, so the levels compare), and what each level means."""
    slices = list(slice_rows) + A.slice_final_rows(slice_rows)
    volumes = all_volume_rows(slice_rows, how)
    out: dict[str, Any] = {
        "slice": {**A.level_metrics(classes, folds, slices), "n": _count(slices)},
        "volume": {**A.level_metrics(classes, folds, volumes), "n": _count(volumes)},
        "patient": None,
        "aggregate": how,
        "about": {
            "slice": "every slice scored on its own (it carries its volume's class)",
            "volume": f"the {how} of its slices' probabilities (predictions.csv)",
            "patient": f"the {how} of its volumes' probabilities, per group (patients.csv)",
            "threshold": "0.5 on uncalibrated probabilities at every level; the run's "
            "headline metrics are volume-level, its test metrics at the calibrated threshold",
        },
    }
    if any(groups.get(r.item_id) for r in volumes):
        patients = A.patient_rows(volumes, groups, how)
        out["patient"] = {**A.level_metrics(classes, folds, patients), "n": _count(patients)}
    else:
        out["about"]["patient"] = "no groups set: every volume is its own patient"
    return out


def all_volume_rows(slice_rows: Sequence[A.SliceRow], how: str) -> list[PredRow]:
    """Volume rows of every fold model plus fold 0 (out-of-fold and test ensemble)."""
    volumes = A.volume_rows(slice_rows, how)
    return volumes + final_rows(volumes, None)


def _count(rows: Sequence[PredRow]) -> int:
    return len({(r.item_id, getattr(r, "axis", 0), getattr(r, "index", 0)) for r in rows})


def write_slices_csv(
    path: Path,
    rows: Sequence[A.SliceRow],
    classes: Sequence[str],
    names: Mapping[int, str],
    planes: Mapping[int, str],
) -> None:
    """item_id, item_name, plane, slice, fold, split, true, prob_<class>..., predicted;
    fold 0 rows are the out-of-fold / ensemble predictions, as in predictions.csv."""
    probs = [f"prob_{c}" for c in classes]
    head = ["item_id", "item_name", "plane", "slice", "fold", "split", "true", *probs]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*head, "predicted"])
        for r in list(rows) + A.slice_final_rows(rows):
            writer.writerow(
                [r.item_id, names.get(r.item_id, ""), planes.get(r.item_id, ""), r.index]
                + _tail(r, classes)
            )


def write_patients_csv(
    path: Path,
    slice_rows: Sequence[A.SliceRow],
    groups: Mapping[int, str | None],
    how: str,
    classes: Sequence[str],
) -> None:
    """patient, volumes, fold, split, true, prob_<class>..., predicted (group names can be
    patient ids: ``medview export`` leaves this file out)."""
    rows = A.patient_rows(all_volume_rows(slice_rows, how), groups, how)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        probs = [f"prob_{c}" for c in classes]
        writer.writerow(["patient", "volumes", "fold", "split", "true", *probs, "predicted"])
        for r in sorted(rows, key=lambda r: (r.fold, r.split or "", r.group)):
            writer.writerow([r.group, r.volumes] + _tail(r, classes))


def _tail(r: PredRow, classes: Sequence[str]) -> list[Any]:
    true = classes[r.true] if r.true is not None else ""
    probs = [f"{p:.6f}" for p in r.probs]
    return [r.fold, r.split or "", true, *probs, classes[r.predicted()]]


def write_levels_plot(run_dir: Path, levels: Mapping[str, Any]) -> None:
    """Grouped bars: each metric at the slice, volume and patient level (mean ± std over
    folds), so the levels compare at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    shown = [level for level in LEVELS if levels.get(level)]
    width = 0.8 / max(1, len(shown))
    for k, level in enumerate(shown):
        summary = levels[level]["summary"]
        means = [(summary.get(key) or {}).get("mean") or 0.0 for key, _ in PLOTTED]
        stds = [(summary.get(key) or {}).get("std") or 0.0 for key, _ in PLOTTED]
        where = np.arange(len(PLOTTED)) + (k - (len(shown) - 1) / 2) * width
        ax.bar(where, means, width, yerr=stds, capsize=3, label=f"{level} level")
    ax.set_xticks(range(len(PLOTTED)), [label for _, label in PLOTTED])
    ax.set(ylim=(0, 1.05), ylabel="mean over folds (± std)")
    ax.set_title(f"Slice, volume and patient level ({levels.get('aggregate')}, threshold 0.5)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    stem = RunFolder(run_dir).plot(LEVELS_PLOT)
    fig.savefig(stem.with_suffix(".png"), dpi=120)
    fig.savefig(stem.with_suffix(".svg"))
    plt.close(fig)
