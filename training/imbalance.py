"""The imbalance note: said in the plan check and in the report when the smallest class has
under a third of the largest's items; what medview will do about it and what the user can
switch on. Torch-free (the window's plan check imports it).
"""

from __future__ import annotations

from typing import Any

# The note appears when largest / smallest exceeds this; Auto weights the loss from the same
# ratio on (training/auto.py IMBALANCE_WEIGHTING), so the note can say so.
NOTE_RATIO = 3.0


def imbalance_note(counts: dict[str, int], cfg: Any) -> str | None:
    """One line, or None when the classes are balanced enough (or fewer than two)."""
    present = {c: n for c, n in counts.items() if n}
    if len(present) < 2:
        return None
    small = min(present, key=lambda c: present[c])
    large = max(present, key=lambda c: present[c])
    ratio = present[large] / present[small]
    if ratio <= NOTE_RATIO:
        return None
    doing, can = _remedies(cfg)
    text = (
        f"Imbalanced classes: {small} has {present[small]} items, {large} {present[large]} "
        f"({ratio:.1f}:1). "
    )
    text += f"medview {' and '.join(doing)}." if doing else "These settings do nothing about it."
    if can:
        text += f" You can switch on {' or '.join(can)}."
    return text + " Judge by per-class recall and balanced metrics, not accuracy."


def _remedies(cfg: Any) -> tuple[list[str], list[str]]:
    """(what this run does, what the user could add): class weights and the sampler."""
    doing, can = [], []
    if cfg.class_weights:
        doing.append("weights the loss by inverse class frequency")
    elif cfg.auto:
        doing.append("weights the loss by inverse class frequency (Auto)")
    else:
        can.append("class weighting (--class-weights)")
    if cfg.sampler == "oversample":
        doing.append("draws the classes equally often per epoch (oversampling)")
    elif cfg.sampler == "undersample":
        doing.append("draws balanced epochs of the smallest class's size (undersampling)")
    else:
        can.append("a balanced sampler (--sampler oversample or undersample)")
    return doing, can
