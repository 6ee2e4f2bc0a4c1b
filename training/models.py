"""The model zoo (docs/DESIGN.md section 6): build_model(), heads, parameter/MAC counts.

What each model is (kind, size, head, Grad-CAM layer, blocks, weights) is written once, in
``training.model_specs.SPECS``; this module holds the thin factories that build the nets from
a spec's parameters (one per source library, as MONAI builds a family from its parameter
table). Freezing for partial fine-tuning lives in ``training.freeze``.

Every model keeps the parameter names of its source library (MONAI's ResNet, torchvision's
models), so pretrained files map onto it directly and exported weights load elsewhere.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from training.model_specs import ModelSpec, spec


class SmallCNN(nn.Module):
    """Four conv-BN-ReLU-pool blocks and a linear head: a quick, honest baseline (2D or 3D)."""

    def __init__(self, ndim: int, in_channels: int, num_outputs: int, width: int = 16) -> None:
        super().__init__()
        conv = nn.Conv3d if ndim == 3 else nn.Conv2d
        norm = nn.BatchNorm3d if ndim == 3 else nn.BatchNorm2d
        pool = nn.MaxPool3d if ndim == 3 else nn.MaxPool2d
        gap = nn.AdaptiveAvgPool3d(1) if ndim == 3 else nn.AdaptiveAvgPool2d(1)
        layers: list[nn.Module] = []
        channels = in_channels
        for k in range(4):
            out = width * 2**k
            layers += [conv(channels, out, 3, padding=1, bias=False), norm(out), nn.ReLU(True)]
            layers.append(pool(2) if k < 3 else gap)
            channels = out
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(channels, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def num_outputs(n_classes: int) -> int:
    """Binary tasks use one logit (BCE); multiclass one logit per class (cross-entropy)."""
    return 1 if n_classes == 2 else n_classes


def build_model(name: str, n_classes: int, in_channels: int = 1) -> nn.Module:
    """A freshly initialised model with a new head of the right width."""
    model_spec = spec(name)
    return FACTORIES[model_spec.factory](model_spec, in_channels, num_outputs(n_classes))


def _medicalnet(model_spec: ModelSpec, in_channels: int, outputs: int) -> nn.Module:
    """MedicalNet's 3D ResNets as MONAI builds them: a 7^3 stem conv with stride 2."""
    from monai.networks.nets import resnet

    p = model_spec.params
    return getattr(resnet, f"resnet{p['depth']}")(
        spatial_dims=3,
        n_input_channels=in_channels,
        conv1_t_size=7,
        conv1_t_stride=2,
        shortcut_type=p["shortcut"],
        bias_downsample=p["bias_downsample"],
        num_classes=outputs,
    )


def _small_cnn(model_spec: ModelSpec, in_channels: int, outputs: int) -> nn.Module:
    return SmallCNN(int(model_spec.params["ndim"]), in_channels, outputs)


def _torchvision(model_spec: ModelSpec, in_channels: int, outputs: int) -> nn.Module:
    import torchvision

    if in_channels != 3:
        raise ValueError(f"{model_spec.name} takes 3-channel input (got {in_channels})")
    model = torchvision.models.get_model(model_spec.name, weights=None, **model_spec.params)
    replace_head(model, model_spec.head, outputs)
    return model


FACTORIES: dict[str, Callable[[ModelSpec, int, int], nn.Module]] = {
    "medicalnet": _medicalnet,
    "small_cnn": _small_cnn,
    "torchvision": _torchvision,
}


def get_module(model: nn.Module, path: str) -> nn.Module:
    module = model
    for part in path.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


def replace_head(model: nn.Module, path: str, outputs: int) -> None:
    old = get_module(model, path)
    new = nn.Linear(old.in_features, outputs)
    parent_path, _, attr = path.rpartition(".")
    parent = get_module(model, parent_path) if parent_path else model
    if attr.isdigit():
        parent[int(attr)] = new
    else:
        setattr(parent, attr, new)


def head_prefix(name: str) -> str:
    return spec(name).head + "."


def model_info(model: nn.Module, name: str, in_channels: int, size: int) -> dict[str, Any]:
    """Parameter counts and multiply-accumulates of one forward pass at batch size 1."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    ndim = 3 if spec(name).kind == "3d" else 2
    shape = (1, in_channels) + (size,) * ndim
    macs: int | None
    try:
        macs = _count_macs(model, shape)
    except Exception:  # counting is informative only; never fail a run over it
        macs = None
    return {
        "name": name,
        "parameters": int(total),
        "trainable_parameters": int(trainable),
        "macs": macs,
        "gmacs": round(macs / 1e9, 4) if macs is not None else None,
        "input_shape": list(shape[1:]),
    }


def _count_macs(model: nn.Module, shape: tuple[int, ...]) -> int:
    """FLOPs / 2 from torch's own counter, run on the meta device (no memory, no compute)."""
    from torch.utils.flop_counter import FlopCounterMode

    meta_model = copy.deepcopy(model).to("meta").eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        meta_model(torch.empty(shape, device="meta"))
    return int(counter.get_total_flops() // 2)
