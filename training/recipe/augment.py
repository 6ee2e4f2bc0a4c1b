"""Augmentation as named parameters (torch-free): what ``--augment`` means, in the CLI, the
form and config.json alike.

``--augment`` takes a preset (``none``, ``light``, ``strong``) or the parameters by name,
optionally on top of a preset: ``"flip_x=0.9,rotate=15,brightness=0.2"`` or
``"light,noise=0.05"``. The presets are named values of the same parameters, so a protocol
that says "horizontal flips at p = 0.9, rotation ±15°, colour jitter" is written as it reads.
training/engine/transforms.py applies them to whole batches (MONAI's batched affine warp).

Parameters (a probability is per sample; a range is ± around no change):

- ``flip_x``, ``flip_y``, ``flip_z``: probability of a flip along each axis (x left-right);
- ``rotate``: in-plane rotation range in degrees, drawn for half the samples (``rotate_p``);
  ``tilt``: the same for the two other planes (3D only);
- ``scale``: zoom range as a fraction (0.15: 0.85-1.15), for half the samples;
  ``translate``: shift range as a fraction of the field, for half the samples;
- ``brightness``: intensity offset range, ``contrast``: intensity gain range (each for half
  the samples, on z-scored intensities); ``colour``: per-channel gain and offset (RGB);
  ``saturation``: blend towards grey by up to this fraction (RGB);
- ``noise``: Gaussian noise std for ``noise_p`` of the samples; ``blur``: Gaussian blur sigma
  range in pixels, for half the samples.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from medview.core.errors import MedviewError


class AugmentError(MedviewError):
    """An ``--augment`` value that names an unknown parameter or an impossible value."""


@dataclass(frozen=True)
class Augment:
    flip_x: float = 0.0
    flip_y: float = 0.0
    flip_z: float = 0.0
    rotate: float = 0.0
    rotate_p: float = 0.5
    tilt: float = 0.0
    scale: float = 0.0
    translate: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    colour: float = 0.0
    saturation: float = 0.0
    noise: float = 0.0
    noise_p: float = 0.3
    blur: float = 0.0

    @property
    def off(self) -> bool:
        neutral = Augment()
        return all(
            getattr(self, f.name) == getattr(neutral, f.name)
            for f in dataclasses.fields(self)
            if not f.name.endswith("_p")
        )


PROBABILITIES = ("flip_x", "flip_y", "flip_z", "rotate_p", "noise_p")
# The presets as they always were: light flips left-right, rotates ±15° and jitters the
# intensity by 10 %; strong flips every axis, tilts 3D volumes too, zooms ±15 %, jitters 20 %
# and adds noise to 30 % of the samples.
PRESETS: dict[str, Augment] = {
    "none": Augment(),
    "light": Augment(flip_x=0.5, rotate=15, brightness=0.1, contrast=0.1, colour=0.1),
    "strong": Augment(
        flip_x=0.5,
        flip_y=0.5,
        flip_z=0.5,
        rotate=15,
        tilt=15,
        scale=0.15,
        brightness=0.2,
        contrast=0.2,
        colour=0.2,
        noise=0.05,
    ),  # fmt: skip
}
NAMES = tuple(f.name for f in dataclasses.fields(Augment))


def parse_augment(text: str | None) -> Augment:
    """A preset name, ``name=value`` pairs, or a preset then pairs (``"light,noise=0.05"``);
    AugmentError naming what is wrong."""
    value = (text or "none").strip()
    parts = [p.strip() for p in value.split(",") if p.strip()]
    base = PRESETS["none"]
    if parts and "=" not in parts[0]:
        if parts[0].lower() not in PRESETS:
            raise AugmentError(
                f"--augment {parts[0]!r}: a preset is one of {', '.join(PRESETS)}; "
                f"or give parameters by name ({', '.join(NAMES)})"
            )
        base, parts = PRESETS[parts[0].lower()], parts[1:]
    changes: dict[str, float] = {}
    for part in parts:
        name, _, number = (s.strip() for s in part.partition("="))
        if name not in NAMES:
            raise AugmentError(f"--augment: unknown parameter {name!r} (known: {', '.join(NAMES)})")
        try:
            changes[name] = float(number)
        except ValueError:
            raise AugmentError(f"--augment: {name}={number!r} is not a number") from None
        _check(name, changes[name])
    return dataclasses.replace(base, **changes)


def _check(name: str, value: float) -> None:
    if value < 0:
        raise AugmentError(f"--augment: {name} must be >= 0 (got {value:g})")
    if name in PROBABILITIES and value > 1:
        raise AugmentError(f"--augment: {name} is a probability, 0-1 (got {value:g})")
    if name in ("scale", "saturation") and value >= 1:
        raise AugmentError(f"--augment: {name} must be below 1 (got {value:g})")


def describe(augment: Augment) -> str:
    """The parameters that differ from no augmentation: ``flip_x=0.9, rotate=15``."""
    neutral = Augment()
    return ", ".join(
        f"{f.name}={getattr(augment, f.name):g}"
        for f in dataclasses.fields(augment)
        if getattr(augment, f.name) != getattr(neutral, f.name)
    )
