"""The weight layout each model trains in (training.batches.fast_memory_format) and the size of
the BatchNorm recalibration: a faster layout must not change what the model computes."""

from __future__ import annotations

import pytest
import torch

from training.batches import fast_memory_format, model_to_fast_layout, precise_bn_count
from training.models import build_model

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_layout_rules_follow_the_measurements():
    assert fast_memory_format("cnn_small", 2, CPU) is torch.channels_last
    assert fast_memory_format("resnet18", 2, CUDA) is torch.channels_last
    assert fast_memory_format("cnn3d_small", 3, CPU) is torch.channels_last_3d
    # MedicalNet trains 0.6-0.7x as fast channels-last on the CPU (bench/memory_layout.py)
    assert fast_memory_format("medicalnet_resnet10", 3, CPU) is None
    assert fast_memory_format("cnn3d_small", 3, CUDA) is None  # not measured: the default


@pytest.mark.parametrize(
    ("name", "shape"), [("cnn_small", (3, 2, 48, 48)), ("cnn3d_small", (2, 1, 16, 16, 16))]
)
def test_a_channels_last_model_computes_what_the_default_layout_does(name, shape):
    torch.manual_seed(0)
    reference = build_model(name, 2, shape[1]).eval()
    fast = build_model(name, 2, shape[1]).eval()
    fast.load_state_dict(reference.state_dict())
    fast = model_to_fast_layout(fast, name, len(shape) - 2, CPU)
    weight = next(p for p in fast.parameters() if p.dim() == len(shape))
    fmt = torch.channels_last if len(shape) == 4 else torch.channels_last_3d
    assert weight.is_contiguous(memory_format=fmt)
    x = torch.randn(*shape)  # the batches keep their layout: the weights decide
    with torch.no_grad():
        torch.testing.assert_close(fast(x), reference(x), rtol=1e-4, atol=1e-5)
    # and its weights save in the default layout (safetensors needs contiguous tensors)
    assert all(v.contiguous().is_contiguous() for v in fast.state_dict().values())


def test_batchnorm_recalibration_passes_over_half_the_training_items_within_bounds():
    assert precise_bn_count(32) == 16  # the example's 3D fold: a sixth of an epoch, not a third
    assert precise_bn_count(100) == 50
    assert precise_bn_count(20) == 16 and precise_bn_count(10) == 10  # small: 16 or all
    assert precise_bn_count(10_000) == 256  # large sets: bounded
