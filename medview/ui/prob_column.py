"""The items list's probability column: titled with the class it is the probability of,
"P(MUT)", never a bare "P" (which biologists read as a p-value, issue 26)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from medview.core.errors import MedviewError


def run_classes(project: Any, predictions: Iterable[Any]) -> list[str]:
    """The classes (in probability order) of the one run the predictions come from; [] when
    they come from several runs or the run is gone."""
    runs = {p.run_id for p in predictions}
    if project is None or len(runs) != 1:
        return []
    try:
        return list(project.get_run(runs.pop()).metrics.get("classes") or [])
    except (MedviewError, AttributeError):
        return []


def header(classes: Sequence[str]) -> str:
    """P(<second class>) in a binary run (the positive class); else the predicted class's."""
    return f"P({classes[1]})" if len(classes) == 2 else "P(predicted class)"


def value(classes: Sequence[str], probabilities: Sequence[float]) -> float:
    """The number under ``header(classes)``."""
    if len(classes) == 2 == len(probabilities):
        return float(probabilities[1])
    return float(max(probabilities))
