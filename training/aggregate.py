"""Slice mode's results at three levels: slice probabilities aggregated to the volume and
the volume's to the patient (its group), and the metrics of each level side by side.

* Each fold model's probability for a volume is the ``mean`` (default) or ``max`` of its
  slices' probabilities; ``max`` suits "any slice shows a tumour" tasks. For more than two
  classes ``max`` takes each class's maximum and rescales the row to sum to 1.
* A patient's probability aggregates its volumes' the same way. Its true class is the one
  its volumes share; when they differ, a binary task counts the patient positive if any
  volume is (the second class), a multiclass task takes the most frequent class.
* A volume without a group is its own patient.
* The ensemble (fold 0 test rows) is the mean of the fold models, as in every run; the
  out-of-fold rows are each volume's (slice's, patient's) validation prediction.

Every level's metrics here are at threshold 0.5 on uncalibrated probabilities, so the three
compare; the run's headline (volume) metrics keep the calibrated threshold beside them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training import metrics as M
from training.report import HEADLINE, PredRow


@dataclass
class SliceRow(PredRow):
    """A slice's prediction: ``item_id`` is its volume, ``index`` the slice along ``axis``."""

    index: int = 0
    axis: int = 0


@dataclass
class PatientRow(PredRow):
    """A patient's prediction: ``group`` names it, ``item_id`` is its first volume."""

    group: str = ""
    volumes: int = 1


def combine(probs: Sequence[Sequence[float]] | np.ndarray, how: str) -> np.ndarray:
    """One probability row from several (slices of a volume, volumes of a patient)."""
    probs = np.asarray(probs, dtype=float)
    if how == "mean":
        return probs.mean(axis=0)
    if probs.shape[1] == 2:  # max: the highest positive probability decides
        top = probs[:, 1].max()
        return np.array([1.0 - top, top])
    top = probs.max(axis=0)
    return top / top.sum() if top.sum() > 0 else top


def _grouped(rows: Sequence[PredRow], key: Callable[[PredRow], Any]) -> dict[Any, list[PredRow]]:
    out: dict[Any, list[PredRow]] = {}
    for r in rows:
        out.setdefault(key(r), []).append(r)
    return out


def volume_rows(slice_rows: Sequence[PredRow], how: str = "mean") -> list[PredRow]:
    """One row per (volume, fold, split): its slices' probabilities combined."""
    groups = _grouped(slice_rows, lambda r: (r.item_id, r.fold, r.split))
    return [
        PredRow(item, fold, split, rs[0].true, combine([r.probs for r in rs], how).tolist())
        for (item, fold, split), rs in groups.items()
    ]


def patient_truth(truths: Sequence[int | None], n_classes: int) -> int | None:
    """The patient's class from its volumes' classes (see the module docstring)."""
    known = [t for t in truths if t is not None]
    if not known:
        return None
    if n_classes == 2:
        return max(known)
    return Counter(known).most_common(1)[0][0]


def patient_rows(
    rows: Sequence[PredRow], groups: Mapping[int, str | None], how: str = "mean"
) -> list[PatientRow]:
    """One row per (patient, fold, split) from volume rows; ``groups`` maps item id -> group."""

    def patient(r: PredRow) -> tuple[str, int, str | None]:
        group = groups.get(r.item_id)
        return (group if group else f"item {r.item_id}", r.fold, r.split)

    out = []
    for (group, fold, split), rs in _grouped(rows, patient).items():
        probs = combine([r.probs for r in rs], how)
        truth = patient_truth([r.true for r in rs], len(probs))
        first = min(r.item_id for r in rs)
        row = PatientRow(first, fold, split, truth, probs.tolist(), group=group, volumes=len(rs))
        out.append(row)
    return out


def slice_final_rows(rows: Sequence[SliceRow]) -> list[SliceRow]:
    """Fold-0 slice rows: each validation slice's out-of-fold prediction and each test
    slice's fold-ensemble mean."""
    out = [
        SliceRow(r.item_id, 0, "val", r.true, r.probs, index=r.index, axis=r.axis)
        for r in rows
        if r.fold > 0 and r.split == "val"
    ]
    tests = _grouped([r for r in rows if r.fold > 0 and r.split == "test"], _slice_key)
    for (item, axis, index), rs in tests.items():
        mean = np.mean([r.probs for r in rs], axis=0).tolist()
        out.append(SliceRow(item, 0, "test", rs[0].true, mean, index=index, axis=axis))
    return sorted(out, key=lambda r: (r.split or "", r.item_id, r.index))


def _slice_key(r: PredRow) -> tuple[int, int, int]:
    return (r.item_id, getattr(r, "axis", 0), getattr(r, "index", 0))


def _scored(rows: Sequence[PredRow], classes: Sequence[str]) -> dict[str, Any] | None:
    labelled = [r for r in rows if r.true is not None]
    if not labelled:
        return None
    y = [int(r.true) for r in labelled if r.true is not None]
    found = M.classification_metrics(y, np.asarray([r.probs for r in labelled]), classes)
    return {k: found[k] for k in HEADLINE if k in found}


def level_metrics(
    classes: Sequence[str], folds: Sequence[int], rows: Sequence[PredRow]
) -> dict[str, Any]:
    """One level's metrics: per fold (its validation rows), their mean ± std, the pooled
    out-of-fold rows (fold 0 ``val``) and the test ensemble (fold 0 ``test``)."""
    per_fold = []
    for fold in folds:
        scored = _scored([r for r in rows if r.fold == fold and r.split == "val"], classes)
        if scored is not None:
            per_fold.append({"fold": fold, **scored})
    return {
        "folds": per_fold,
        "summary": M.summarise(per_fold),
        "pooled": _scored([r for r in rows if r.fold == 0 and r.split == "val"], classes),
        "test": _scored([r for r in rows if r.fold == 0 and r.split == "test"], classes),
        "threshold": 0.5,
    }
