"""training.model_costs: the window's table of parameters/MACs matches the models themselves."""

from __future__ import annotations

import pytest

from training import model_costs
from training.config import MODELS
from training.models import build_model, model_info


def test_every_model_has_a_cost_entry():
    assert set(model_costs.COSTS) == set(MODELS)


@pytest.mark.parametrize("name,channels", [("cnn_small", 1), ("mobilenet_v2", 3)])
def test_table_matches_model_info_and_scales(name, channels):
    model = build_model(name, 2, channels)
    for size in (64, 224):
        info = model_info(model, name, channels, size)
        assert model_costs.parameters(name) == info["parameters"]
        # MACs scale with the area up to border effects of strided convolutions
        assert model_costs.macs(name, size) == pytest.approx(info["macs"], rel=0.15)


def test_estimate_uses_the_rate():
    fast = model_costs.estimate_seconds("resnet18", 224, 100, 5, 10, 1e12)
    slow = model_costs.estimate_seconds("resnet18", 224, 100, 5, 10, 1e10)
    assert slow == pytest.approx(100 * fast)
    assert model_costs.estimate_seconds("nope", 224, 100, 5, 10, 1e10) is None
