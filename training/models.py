"""The model zoo (docs/DESIGN.md section 6): build_model(), freezing, parameter/MAC counts.

Every model keeps the parameter names of its source library (MONAI's ResNet, torchvision's
models), so pretrained files map onto it directly and exported weights load elsewhere. Each
built model records in ``HEAD`` which top-level attribute path is the new classification head;
``--freeze-encoder`` trains only that.

MedicalNet settings (checked against MONAI's ``resnet_params`` / MedicalNet's ``resnet.py``):
resnet10 and resnet50 use shortcut 'B' (1x1 conv downsample, no bias); resnet18 and resnet34
use shortcut 'A' (zero-padded identity); the stem is a 7^3 conv with stride 2, one input channel.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from training.config import MODELS, model_kind

MEDICALNET = {  # name: (monai factory, shortcut_type, bias_downsample)
    "medicalnet_resnet10": ("resnet10", "B", False),
    "medicalnet_resnet18": ("resnet18", "A", True),
    "medicalnet_resnet34": ("resnet34", "A", True),
    "medicalnet_resnet50": ("resnet50", "B", False),
}
HEAD = {  # the attribute path of the classification head, per model
    **{name: "fc" for name in MEDICALNET},
    "cnn3d_small": "head",
    "cnn_small": "head",
    "resnet18": "fc",
    "resnet50": "fc",
    "resnet101": "fc",
    "mobilenet_v2": "classifier.1",
    "densenet121": "classifier",
    "vgg16": "classifier.6",
    "efficientnet_b0": "classifier.1",
}


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
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}")
    outputs = num_outputs(n_classes)
    if name in MEDICALNET:
        from monai.networks.nets import resnet

        factory, shortcut, bias_downsample = MEDICALNET[name]
        return getattr(resnet, factory)(
            spatial_dims=3,
            n_input_channels=in_channels,
            conv1_t_size=7,
            conv1_t_stride=2,
            shortcut_type=shortcut,
            bias_downsample=bias_downsample,
            num_classes=outputs,
        )
    if name == "cnn3d_small":
        return SmallCNN(3, in_channels, outputs)
    if name == "cnn_small":
        return SmallCNN(2, in_channels, outputs)
    import torchvision

    model = torchvision.models.get_model(name, weights=None)
    replace_head(model, name, outputs)
    if in_channels != 3:
        raise ValueError(f"{name} takes 3-channel input (got {in_channels})")
    return model


def get_module(model: nn.Module, path: str) -> nn.Module:
    module = model
    for part in path.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


def replace_head(model: nn.Module, name: str, outputs: int) -> None:
    path = HEAD[name]
    old = get_module(model, path)
    new = nn.Linear(old.in_features, outputs)
    parent_path, _, attr = path.rpartition(".")
    parent = get_module(model, parent_path) if parent_path else model
    if attr.isdigit():
        parent[int(attr)] = new
    else:
        setattr(parent, attr, new)


def head_prefix(name: str) -> str:
    return HEAD[name] + "."


def freeze_encoder(model: nn.Module, name: str) -> int:
    """Stop gradients everywhere but the head. Returns the number of trainable parameters."""
    prefix = head_prefix(name)
    trainable = 0
    for pname, param in model.named_parameters():
        param.requires_grad = pname.startswith(prefix)
        trainable += param.numel() if param.requires_grad else 0
    return trainable


def set_train_mode(model: nn.Module, name: str, frozen: bool) -> None:
    """train() for fine-tuning; with a frozen encoder its BatchNorm statistics stay fixed too
    (eval mode), otherwise "frozen" layers would still drift with each batch."""
    model.train()
    if frozen:
        head = get_module(model, HEAD[name])
        for module in model.modules():
            if module is not head:
                module.eval()
        head.train()


def model_info(model: nn.Module, name: str, in_channels: int, size: int) -> dict[str, Any]:
    """Parameter counts and multiply-accumulates of one forward pass at batch size 1."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    ndim = 3 if model_kind(name) == "3d" else 2
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
