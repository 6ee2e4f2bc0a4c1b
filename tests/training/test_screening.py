"""Auto's screening (issue 25, training/engine/screening.py): candidates trained briefly on an inner
split with successive halving; the one that learns wins; a given model skips it."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest
import torch
from torch import nn

from training.engine import models
from training.engine.screening import CANDIDATES, Candidate, inner_split, screen, wanted
from training.recipe import model_specs
from training.recipe.config import TrainConfig

RECIPE = dict(
    optimizer="adamw", lr=3e-3, weight_decay=0.05, scheduler="cosine", ema=True,
    augment="none", early_stopping="loss", precise_bn=False, threads=1,
)  # fmt: skip


class PixelProbe(nn.Module):
    """A 1x1 convolution and a global average: it sees each pixel alone, so it cannot tell
    horizontal from vertical stripes with the same pixel values (receptive field of 1)."""

    def __init__(self, channels: int, outputs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 8, 1)
        self.head = nn.Linear(8, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


@pytest.fixture
def pixel_probe(monkeypatch):
    probe = dataclasses.replace(
        model_specs.SPECS["cnn_small"], name="pixel_probe", factory="pixel_probe",
        blocks=(("conv",),), gradcam_layer="conv",
    )  # fmt: skip
    specs = MappingProxyType({**model_specs.SPECS, "pixel_probe": probe})
    monkeypatch.setattr(model_specs, "SPECS", specs)
    monkeypatch.setitem(models.FACTORIES, "pixel_probe", lambda s, c, o: PixelProbe(c, o))


def _stripes(n: int, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: horizontal stripes, class 1: vertical; the same values, only arranged."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    base = (torch.arange(size) % 4 < 2).float()
    x = torch.empty(n, 1, size, size)
    for k in range(n):
        shift = int(torch.randint(0, 4, (1,), generator=g))
        row = base.roll(shift)
        img = row[:, None].expand(size, size) if y[k] == 0 else row[None, :].expand(size, size)
        x[k, 0] = img + 0.3 * torch.randn(size, size, generator=g)
    return (x - x.mean()) / x.std(), y


def test_screening_picks_the_candidate_that_can_learn(pixel_probe):
    torch.set_num_threads(1)
    x, y = _stripes(80)
    candidates = [Candidate("pixel_probe", 16, 6), Candidate("cnn_small", 16, 6)]
    winner, n_train, n_val = screen(x, y, 2, candidates, TrainConfig(**RECIPE), torch.device("cpu"))
    assert winner is not None and winner.model == "cnn_small"
    assert (n_train, n_val) == (64, 16)  # an inner split of what it was given
    probe, cnn = candidates
    assert cnn.best_val_loss < 0.5 < probe.best_val_loss  # ln 2 = 0.69: the probe guesses


def test_a_given_model_or_the_quick_check_skips_screening():
    assert wanted(TrainConfig(), "2d", 1, False) == CANDIDATES["2d"]
    assert wanted(TrainConfig(), "3d", 1, False) == CANDIDATES["3d"]
    assert wanted(TrainConfig(model="resnet18"), "2d", 1, True) == ()  # only its schedule
    assert wanted(TrainConfig(effort="quick"), "2d", 1, False) == ()
    assert wanted(TrainConfig(fold=2), "2d", 1, False) == ()  # fold jobs agree, no training
    listed = TrainConfig(extra={"screen_candidates": ["cnn_small", "resnet18"]})
    assert wanted(listed, "2d", 1, False) == ("cnn_small", "resnet18")


def test_inner_split_is_stratified_and_keeps_a_single_item_class_in_training():
    import numpy as np

    y = np.array([0] * 10 + [1] * 5 + [2])
    train, val = inner_split(y, seed=0)
    assert sorted(y[val].tolist()) == [0, 0, 1]
    assert 15 in train and not set(train) & set(val)


@pytest.mark.slow  # ~25 s on the shared 2-core CPU: loads a project and screens two models
def test_the_run_takes_the_winner_and_records_the_table(tmp_path):
    from tests.projects import make_image_project
    from training.engine.ddp import Dist
    from training.engine.run_context import Reporter
    from training.engine.run_setup import choose_inputs, screen_models

    project = make_image_project(tmp_path, n=24)
    extra = {"screen_candidates": ["cnn_small", "resnet18"]}

    def inputs_for(**cfg):
        config = TrainConfig(project=str(project.folder), device="cpu", threads=1, **cfg)
        reporter = Reporter(None, True)
        inputs, _ = choose_inputs(config, project, Dist(), reporter, lambda: False, 0.0)
        screen_models(inputs)
        return inputs

    given = inputs_for(model="cnn_small", extra=extra)
    assert given.auto_plan.screening is None  # --model: no screening
    inputs = inputs_for(extra=extra)
    screening = inputs.auto_plan.screening
    assert [c["model"] for c in screening["candidates"]] == ["cnn_small", "resnet18"]
    assert inputs.model_name == screening["winner"] == inputs.auto_plan.values["model"]
    assert "never the test split" in screening["note"]
    assert any("screening" in line for line in inputs.auto_plan.lines())
