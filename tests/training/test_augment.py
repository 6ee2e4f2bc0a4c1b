"""Augmentation by named parameters (training/recipe/augment.py): a protocol's "flips at
p = 0.9, rotation ±15°, colour jitter" is written as it reads, the presets are named values of
the same parameters, and each parameter does what its name says on a batch."""

from __future__ import annotations

import pytest
import torch

from training.engine.transforms import build_augmentation
from training.recipe.augment import PRESETS, Augment, AugmentError, describe, parse_augment
from training.recipe.config import ConfigError, TrainConfig


def test_presets_and_named_parameters_parse_to_the_same_values():
    assert parse_augment("light") == PRESETS["light"]
    assert describe(PRESETS["light"]) == (
        "flip_x=0.5, rotate=15, brightness=0.1, contrast=0.1, colour=0.1"
    )
    custom = parse_augment("flip_x=0.9, rotate=15, brightness=0.2, saturation=0.3")
    assert (custom.flip_x, custom.rotate, custom.brightness, custom.saturation) == (
        0.9, 15, 0.2, 0.3
    )  # fmt: skip
    assert custom.flip_y == 0 and custom.noise == 0  # nothing the protocol did not name
    assert parse_augment("light,noise=0.05") == Augment(**{**vars(PRESETS["light"]), "noise": 0.05})
    assert parse_augment("none").off and parse_augment(None).off


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("medium", "a preset is one of none, light, strong"),
        ("flip=0.5", "unknown parameter 'flip'"),
        ("flip_x=1.5", "flip_x is a probability"),
        ("rotate=lots", "rotate='lots' is not a number"),
        ("scale=-0.1", "scale must be >= 0"),
    ],
)
def test_a_bad_value_is_refused_naming_it(text: str, why: str):
    with pytest.raises(AugmentError, match=why):
        parse_augment(text)
    with pytest.raises(ConfigError, match=why):  # the run's own check, before anything starts
        TrainConfig(augment=text).validate()


def test_each_parameter_does_what_it_names():
    x = torch.randn(8, 1, 10, 12)
    always = build_augmentation("flip_x=1", 2, 1, seed=0)
    assert torch.allclose(always(x), x.flip(-1), atol=1e-5)  # p = 1: every sample, left-right
    vertical = build_augmentation("flip_y=1", 2, 1, seed=0)
    assert torch.allclose(vertical(x), x.flip(-2), atol=1e-5)
    shifted = build_augmentation("translate=0.2", 2, 1, seed=0)(x)
    moved = [not torch.allclose(shifted[i], x[i], atol=1e-4) for i in range(8)]
    assert any(moved) and not all(moved)  # half the samples, drawn
    rgb = torch.rand(8, 3, 10, 10)
    grey = build_augmentation("saturation=0.9", 2, 3, seed=0)(rgb)
    spread = lambda t: (t - t.mean(1, keepdim=True)).abs().sum()  # noqa: E731
    assert spread(grey) < spread(rgb)  # colours pulled towards grey
    blurred = build_augmentation("blur=2", 2, 1, seed=0)(x)
    assert blurred.std() < x.std()  # smoothing lowers the pixel-to-pixel variance
    volume = torch.randn(4, 1, 6, 6, 6)
    flipped = build_augmentation("flip_z=1", 3, 1, seed=0)(volume)
    assert torch.allclose(flipped, volume.flip(2), atol=1e-5)
    assert build_augmentation("rotate=0", 2, 1, seed=0) is None  # changes nothing: no transform


def test_the_cli_flag_takes_named_parameters():
    import argparse

    from training.recipe.arguments import add_train_arguments, config_from_args

    parser = argparse.ArgumentParser()
    parser.add_argument("project")
    add_train_arguments(parser)
    args = parser.parse_args(["p", "--augment", "flip_x=0.9,rotate=15,brightness=0.2"])
    cfg = config_from_args(args)
    cfg.validate()
    assert cfg.augment == "flip_x=0.9,rotate=15,brightness=0.2"  # config.json keeps the names
    assert parse_augment(cfg.augment).flip_x == 0.9
