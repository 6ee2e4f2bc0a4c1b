"""Small helpers for showing a run's predictions: active labelling's pick and the
browser's prediction columns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from medview.core.project import Item, Prediction
from medview.ui.browser_model import COL_LABEL, COL_PRED, COL_PROB, certainty

if TYPE_CHECKING:
    from medview.ui.browser import BrowserWidget


def least_certain(items: Iterable[Item], predictions: dict[int, Prediction]) -> int | None:
    """The unlabelled item whose prediction is closest to a tie (active labelling: its label
    teaches the model most). Certainty is scaled so binary and multiclass runs compare."""
    best: tuple[float, int] | None = None
    for item in items:
        pred = predictions.get(item.id)
        if item.label is not None or pred is None or not pred.probabilities:
            continue
        score = certainty(pred)
        if best is None or score < best[0]:
            best = (score, item.id)
    return None if best is None else best[1]


def show_prediction_columns(browser: BrowserWidget) -> None:
    """Move Prediction and P beside Label. The browser's dock is narrow and they sat past its
    right edge; beside the label they are visible and a disagreement reads at a glance."""
    header = browser.table.horizontalHeader()
    for offset, column in enumerate((COL_PRED, COL_PROB), start=1):
        header.moveSection(header.visualIndex(column), header.visualIndex(COL_LABEL) + offset)
