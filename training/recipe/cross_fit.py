"""Cross-fitted calibration: no figure is scored on the predictions its threshold or its
temperature was fitted on.

A run's out-of-fold (OOF) predictions are the only labelled predictions from models that never
saw the items, so both the temperature and the binary decision threshold are fitted on them.
Scoring those same predictions at that threshold is optimistic by construction (the threshold
is the best one for exactly these items). So, as in cross-fitting (Chernozhukov et al. 2018):

* fold k's validation predictions are calibrated with the temperature, and thresholded at the
  threshold, fitted on the OOF predictions of the *other* folds (``per_fold[k]``);
* the test split and new (unlabelled) items use the calibration fitted on *all* OOF
  predictions (``full``): none of them was used to fit it.

With one fold (or before a second fold has finished) there is nothing to fit on: that fold
stays at T = 1 and threshold 0.5, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.recipe.calibration import Calibration, expected_calibration_error

Fit = Callable[[np.ndarray, Sequence[int]], Calibration]


@dataclass
class CrossFit:
    full: Calibration  # on all OOF predictions: the test split and new items
    per_fold: dict[int, Calibration] = field(default_factory=dict)  # fold k: other folds' OOF

    def for_row(self, fold: int, split: str | None) -> Calibration:
        """A fold model's validation rows get its cross-fitted calibration; the rest the full."""
        if fold > 0 and split == "val":
            return self.per_fold.get(fold, Calibration(fitted_on="no other folds"))
        return self.full

    @property
    def threshold(self) -> float:
        return self.full.threshold

    def apply(self, probs: np.ndarray) -> np.ndarray:
        """The full calibration (test split, new items)."""
        return self.full.apply(probs)


def _folds_text(folds: Sequence[int], n: int) -> str:
    which = ", ".join(str(f) for f in folds)
    return f"out-of-fold predictions of fold{'s' if len(folds) > 1 else ''} {which} ({n} items)"


def fit_cross(folds: Sequence[int], oof: Sequence[Any], fit: Fit) -> CrossFit:
    """``oof``: the fold models' validation rows (PredRow; their uncalibrated probabilities
    are what is fitted); ``fit`` fits a Calibration on (probs, y) with the run's settings."""
    oof = [r for r in oof if r.true is not None]
    full = _fit_on(oof, fit)
    full.fitted_on = "all " + _folds_text(sorted({r.fold for r in oof}), len(oof))
    cross = CrossFit(full)
    for k in folds:
        others = [r for r in oof if r.fold != k]
        if not others:
            cross.per_fold[k] = Calibration(fitted_on="no other folds: 0.5, uncalibrated")
            continue
        cal = _fit_on(others, fit)
        cal.fitted_on = _folds_text(sorted({r.fold for r in others}), len(others))
        cross.per_fold[k] = cal
    return cross


def _fit_on(rows: Sequence[Any], fit: Fit) -> Calibration:
    return fit(
        np.asarray([r.uncalibrated for r in rows], dtype=np.float64), [int(r.true) for r in rows]
    )


def cross_fitted_ece(cross: CrossFit, oof: Sequence[Any]) -> float | None:
    """The calibration error of the OOF predictions, each fold's calibrated with the
    temperature fitted on the other folds (what the run reports as ``ece_after``)."""
    rows = [r for r in oof if r.true is not None]
    if not rows:
        return None
    probs = np.concatenate(
        [
            cross.for_row(r.fold, "val").apply(np.asarray([r.uncalibrated], dtype=np.float64))
            for r in rows
        ]
    )
    return expected_calibration_error(probs, [int(r.true) for r in rows])
