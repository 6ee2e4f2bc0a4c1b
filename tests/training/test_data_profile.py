"""Auto's data profile (issue 25): grey images stored as RGB are grey, decided from pixels;
the augmentation follows what the images show, and the user can correct it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage

from training.recipe.auto import auto_settings, profile_items
from training.recipe.colour_check import check_colour
from training.recipe.config import TrainConfig


@dataclass
class FakeItem:
    shape: tuple[int, ...]
    label: str


def _rgb_project(tmp_path, colour: bool, n: int = 12):
    """``n`` 2D items stored as RGB PNGs: grey (equal channels, a few with a 1-level
    difference, as in a real ultrasound set) or really colour (stained-like hues)."""
    from medview.core.project import Project

    rng = np.random.default_rng(0)
    project = Project.create(tmp_path / "rgb.medview", ["WT", "MUT"])
    for k in range(n):
        grey = rng.integers(0, 255, (24, 24)).astype(np.uint8)
        image = np.stack([grey, grey, grey], axis=-1)
        if colour:
            image[..., 0] = np.clip(grey.astype(int) + 60, 0, 255)
            image[..., 2] = grey // 2
        elif k % 4 == 0:
            image[..., 1] = np.clip(grey.astype(int) + 1, 0, 255)  # about one level apart
        path = tmp_path / f"i{k:02d}.png"
        PILImage.fromarray(image).save(path)
        project.add_item(
            name=path.name, kind="2d", reader="raster", paths=[path], shape=(1, 24, 24, 3),
            spacing=(1.0, 1.0, 1.0), content_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
            label="MUT" if k % 2 else "WT",
        )  # fmt: skip
    return project


def _plan(tmp_path, colour: bool, **cfg):
    from training.engine.ddp import Dist
    from training.engine.run_context import Reporter
    from training.engine.run_setup import choose_inputs

    project = _rgb_project(tmp_path, colour)
    config = TrainConfig(project=str(project.folder), device="cpu", **cfg)
    inputs, _ = choose_inputs(config, project, Dist(), Reporter(None, True), lambda: False, 0.0)
    return inputs


def test_grey_images_stored_as_rgb_train_as_grey_anatomy(tmp_path):
    inputs = _plan(tmp_path, colour=False)
    assert inputs.channels == 1 and inputs.prep.channels == 1  # the cache key follows
    assert inputs.profile.rgb is False
    assert inputs.profile.colour_check["grey_in_rgb"] is True
    values = inputs.auto_plan.values
    assert values["profile"] == "anatomy" and values["augment"] == "light"
    assert "stored as RGB but grey" in inputs.auto_plan.reasons["profile"]


def test_really_colour_images_are_microscopy(tmp_path):
    inputs = _plan(tmp_path, colour=True)
    assert inputs.channels == 3 and inputs.profile.rgb is True
    values = inputs.auto_plan.values
    assert values["profile"] == "microscopy" and values["augment"] == "strong"


def test_the_user_corrects_the_profile(tmp_path):
    inputs = _plan(tmp_path, colour=False, profile="microscopy")  # "these are microscopy"
    assert inputs.auto_plan.values["augment"] == "strong"
    assert "profile" not in inputs.auto_plan.values  # given, not chosen
    items = [FakeItem((1, 64, 64, 3), ("a", "b")[k % 2]) for k in range(20)]
    colour = profile_items(items, ["a", "b"], "2d")
    anatomy = auto_settings(TrainConfig(profile="anatomy"), colour, "cpu").values
    assert anatomy["augment"] == "light"  # colour but anatomy: no vertical flips


def test_colour_check_counts_a_sample_of_items():
    items = [FakeItem((1, 8, 8, 3), "a") for _ in range(100)] + [FakeItem((1, 8, 8), "a")]
    grey = np.full((8, 8, 3), 100, np.uint8)
    check = check_colour(items, lambda item: grey)
    assert check.stored_colour == 100 and check.sampled == 24 and check.is_grey
    colour = grey.copy()
    colour[..., 0] = 140
    assert not check_colour(items, lambda item: colour).is_grey
    assert not check_colour(items[-1:], lambda item: grey).is_grey  # nothing stored as colour
