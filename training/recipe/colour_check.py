"""Is a colour-stored data set really colour? Decided from pixels, once, when the plan is made.

Ultrasound and X-ray PNGs are often saved as RGB with three equal channels. Trained as colour
they get three input channels and Auto's colour (microscopy) rules: orientation-free
augmentation that flips anatomy upside down. An item counts as grey when its channels differ
by less than ``GREY_LEVELS`` grey levels (of 255) on average over its pixels: in one real
ultrasound set 764 of 780 RGB PNGs had exactly equal channels and the rest differed by about
one level (issue 25), while stained microscopy differs by tens of levels. The set is grey when
at least ``GREY_SHARE`` of a fixed, evenly spaced sample of its colour items are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

GREY_LEVELS = 3.0  # mean channel spread (of 255) below which an item is grey
GREY_SHARE = 0.9  # share of the sampled colour items that must be grey
SAMPLE = 24  # colour items decoded (evenly spaced over the item table: the same every run)


@dataclass(frozen=True)
class ColourCheck:
    stored_colour: int  # colour-stored items among the labelled ones
    sampled: int
    grey: int  # sampled items whose channels are (nearly) equal

    @property
    def is_grey(self) -> bool:
        """Colour-stored data that is grey in fact (False when nothing is stored as colour)."""
        return self.sampled > 0 and self.grey >= GREY_SHARE * self.sampled

    def to_json(self) -> dict[str, Any]:
        return {
            "stored_colour": self.stored_colour,
            "sampled": self.sampled,
            "grey": self.grey,
            "grey_in_rgb": self.is_grey,
        }


def channel_spread(array: np.ndarray) -> float:
    """Mean over the pixels of (largest - smallest) of the first three channels, in grey
    levels of 255 (a 16-bit or float image is scaled by its own range)."""
    rgb = np.asarray(array)[..., :3].astype(np.float32)
    spread = float((rgb.max(axis=-1) - rgb.min(axis=-1)).mean())
    if np.asarray(array).dtype == np.uint8:
        return spread
    span = float(rgb.max() - rgb.min())
    return 255.0 * spread / span if span > 0 else 0.0


def is_stored_colour(item: Any) -> bool:
    return len(item.shape) == 4 and item.shape[-1] >= 3


def check_colour(items: Sequence[Any], read: Callable[[Any], np.ndarray]) -> ColourCheck:
    """``read(item)`` -> the item's pixel array (..., channels). Items that cannot be read
    are skipped here (loading reports them with their reason)."""
    colour = [it for it in items if is_stored_colour(it)]
    if not colour:
        return ColourCheck(0, 0, 0)
    step = max(1, len(colour) // SAMPLE)
    spreads = []
    for item in colour[::step][:SAMPLE]:
        try:
            spreads.append(channel_spread(read(item)))
        except Exception:  # noqa: BLE001 - a broken file is reported by loading, with its name
            continue
    grey = sum(s < GREY_LEVELS for s in spreads)
    return ColourCheck(len(colour), len(spreads), grey)
