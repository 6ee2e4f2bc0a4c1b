"""Grad-CAM (training/gradcam.py): maps for 2D and 3D models, resampled to the item's grid."""

from __future__ import annotations

import numpy as np
import torch

from training.gradcam import _resample, grad_cam, target_layer
from training.models import build_model


def test_2d_and_3d_maps_have_the_input_shape_and_unit_range():
    for name, shape in (("cnn_small", (1, 1, 32, 32)), ("cnn3d_small", (1, 1, 16, 16, 16))):
        torch.manual_seed(0)
        model = build_model(name, 2, 1)
        x = torch.randn(shape)
        cam, probs = grad_cam(model, target_layer(model, name), x)
        assert cam.shape == shape[2:] and cam.min() >= 0
        assert probs.shape == (2,) and abs(probs.sum() - 1) < 1e-6


def test_multiclass_explains_the_predicted_class():
    model = build_model("cnn_small", 3, 1)
    cam, probs = grad_cam(model, target_layer(model, "cnn_small"), torch.randn(1, 1, 32, 32))
    assert probs.shape == (3,) and cam.shape == (32, 32)


def test_resample_back_to_the_item_grid():
    assert _resample(np.random.rand(32, 32), (1, 40, 60)).shape == (1, 40, 60)
    assert _resample(np.random.rand(16, 16, 16), (10, 20, 24)).shape == (10, 20, 24)


def test_resnet_target_is_layer4():
    model = build_model("medicalnet_resnet10", 2, 1)
    assert target_layer(model, "medicalnet_resnet10") is model.layer4
