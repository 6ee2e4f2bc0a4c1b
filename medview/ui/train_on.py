"""The form's "Train on: 2D model on slices of the 3D volumes" (slice mode, docs/slices.md).

The form's ``kind`` field offers ``"slices"`` beside 3D volumes and 2D images; TrainConfig
knows no such kind: slice mode is ``kind="3d"`` with ``slices`` set. These two functions
translate between the form's values and TrainConfig's (Qt-free)."""

from __future__ import annotations

from typing import Any

SLICES = "slices"  # the form's Train on value for slice mode


def config_from_form(config: dict[str, Any]) -> dict[str, Any]:
    """Form values -> TrainConfig values: "slices" is 3D items with ``slices`` set (``all``
    when left empty); any other Train on turns slice mode off."""
    out = dict(config)
    if out.get("kind") == SLICES:
        out["kind"] = "3d"
        out["slices"] = out.get("slices") or "all"
    else:
        out["slices"] = None
    return out


def values_for_form(values: dict[str, Any]) -> dict[str, Any]:
    """TrainConfig values -> form values: a config with ``slices`` shows Train on "slices"."""
    if values.get("slices"):
        return {**values, "kind": SLICES}
    return values
