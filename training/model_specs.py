"""One table of model facts (``SPECS``), readable without torch (config, plan check, window).

Every other module asks this table: what a model trains on (2D or 3D), its default input
size, which attribute is its classification head, which layer Grad-CAM explains, its
parameterised blocks for partial fine-tuning (``--train-layers last:N``), where published
pretrained weights come from, and its parameters/MACs for the Compare dialog.

Like MONAI's networks, each family has one parameter table (``RESNET_LAYERS``,
``MEDICALNET``, ...) and the specs are made from it, so a block list cannot drift from the
architecture it describes. ``training.models`` holds the thin factories that build the nets.

What a "block" is per family (docs/fine_tuning.md): the unit ``last:N`` counts, listed from
input to output, every parameter of the model in exactly one block or in the head
(tests/training/test_freeze.py checks this for every model).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

Block = tuple[str, ...]  # module paths (as in ``named_modules``) trained or frozen together


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # "2d" | "3d": the items the model consumes
    family: str  # architecture family: what a block is (FAMILY_BLOCKS)
    factory: str  # which builder in training.models makes it: torchvision | medicalnet | small_cnn
    default_size: int  # input pixels/voxels per side when --size is not given
    head: str  # attribute path of the classification head (a Linear, replaced per task)
    gradcam_layer: str  # the module whose output Grad-CAM weighs (the last spatial map)
    blocks: tuple[Block, ...]  # parameterised blocks, input to output
    params: Mapping[str, Any] = field(default_factory=dict)  # the factory's arguments
    channels: int | None = 3  # fixed input channels; None: follows the data (grey 1, colour 3)
    weights: str | None = None  # published weights: "torchvision" | "medicalnet" | None
    # tensor-name prefixes in published files with no place in our model (skipped, not foreign)
    file_extras: tuple[str, ...] = ()
    min_size: int = 8  # the smallest input the architecture accepts
    cost: tuple[int, int, int] | None = None  # (parameters, MACs at ref size, ref size)


# What "block" means per family (also in docs/fine_tuning.md and the --train-layers help).
FAMILY_BLOCKS = {
    "resnet": "the stem (conv1 + bn1), then each residual block of layer1..layer4",
    "medicalnet": "the stem (conv1 + bn1), then each residual block of layer1..layer4 (3D)",
    "densenet": "the stem (conv0 + norm0), then each dense block with its transition "
    "(the last with the final norm5)",
    "vgg": "each convolution layer, then the two hidden fully connected layers",
    "mobilenet": "the stem convolution, each inverted-residual block, the final 1x1 convolution",
    "efficientnet": "the stem convolution, each MBConv block, the final 1x1 convolution",
    "convnext": "the stem, then each ConvNeXt block (a stage's first block with the "
    "downsampling layer before it, the last with the final LayerNorm)",
    "inception": "each stem convolution (Conv2d_1a .. Conv2d_4a), then each Inception module "
    "(Mixed_5b .. Mixed_7c)",
    "small_cnn": "each conv-BatchNorm stage (four)",
}

# ---------------------------------------------------------------- family parameter tables
RESNET_LAYERS = {"resnet18": (2, 2, 2, 2), "resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3)}
# depth: (shortcut type, bias in the downsample conv, blocks per stage); checked against
# MONAI's resnet_params and MedicalNet's resnet.py: depths 10 and 50 use shortcut B (1x1 conv
# downsample, no bias), 18 and 34 shortcut A (zero-padded identity).
MEDICALNET = {
    10: ("B", False, (1, 1, 1, 1)),
    18: ("A", True, (2, 2, 2, 2)),
    34: ("A", True, (3, 4, 6, 3)),
    50: ("B", False, (3, 4, 6, 3)),
}
DENSENET_BLOCKS = {"densenet121": (6, 12, 24, 16)}
VGG_CFG = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M")
    + (512, 512, 512, "M")
}
EFFICIENTNET_STAGES = {"efficientnet_b0": (1, 2, 2, 3, 3, 4, 1)}
CONVNEXT_DEPTHS = {"convnext_tiny": (3, 3, 9, 3)}
MOBILENET_V2 = {"mobilenet_v2": 17}  # inverted residuals: features.1 .. features.17
INCEPTION_STEM = (
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
)
INCEPTION_MODULES = ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c")
INCEPTION = {"inception_v3": (INCEPTION_STEM, INCEPTION_MODULES)}

# name: (parameters, MACs at the reference size, reference size), binary head; measured with
# training.models.model_info and checked by tests/training/test_model_costs.py.
COSTS: dict[str, tuple[int, int, int]] = {
    "medicalnet_resnet10": (14356033, 2227175936, 64),
    "medicalnet_resnet18": (32986689, 3918529024, 64),
    "medicalnet_resnet34": (63296321, 6749684224, 64),
    "medicalnet_resnet50": (46157121, 5066721280, 64),
    "cnn3d_small": (291345, 905969792, 64),
    "resnet18": (11177025, 1813561856, 224),
    "resnet50": (23510081, 4087138304, 224),
    "resnet101": (42502209, 7799359488, 224),
    "mobilenet_v2": (2225153, 299495552, 224),
    "densenet121": (6954881, 2833138688, 224),
    "vgg16": (134264641, 15466172416, 224),
    "efficientnet_b0": (4008829, 384536032, 224),
    "inception_v3": (21787617, 5711170144, 299),
    "convnext_tiny": (27820897, 4454764032, 224),
    "cnn_small": (97521, 180633728, 224),
}


# ---------------------------------------------------------------- block lists per family
def resnet_blocks(layers: tuple[int, ...]) -> tuple[Block, ...]:
    stages = [(f"layer{s + 1}.{b}",) for s, n in enumerate(layers) for b in range(n)]
    return (("conv1", "bn1"), *stages)


def densenet_blocks(config: tuple[int, ...]) -> tuple[Block, ...]:
    blocks: list[Block] = [("features.conv0", "features.norm0")]
    for k in range(1, len(config) + 1):
        after = f"features.transition{k}" if k < len(config) else "features.norm5"
        blocks.append((f"features.denseblock{k}", after))
    return tuple(blocks)


def vgg_blocks(cfg: tuple[Any, ...]) -> tuple[Block, ...]:
    convs, index = [], 0
    for entry in cfg:  # torchvision's make_layers: conv + ReLU per number, one pool per "M"
        if entry == "M":
            index += 1
        else:
            convs.append((f"features.{index}",))
            index += 2
    return (*convs, ("classifier.0",), ("classifier.3",))


def efficientnet_blocks(stages: tuple[int, ...]) -> tuple[Block, ...]:
    mbconv = [(f"features.{s + 1}.{b}",) for s, n in enumerate(stages) for b in range(n)]
    return (("features.0",), *mbconv, (f"features.{len(stages) + 1}",))


def convnext_blocks(depths: tuple[int, ...]) -> tuple[Block, ...]:
    blocks: list[Block] = [("features.0",)]
    for stage, depth in enumerate(depths):
        where = 2 * stage + 1  # features: stem, stage, downsample, stage, ...
        for b in range(depth):
            block: Block = (f"features.{where}.{b}",)
            if b == 0 and stage > 0:
                block = (f"features.{where - 1}", *block)
            blocks.append(block)
    blocks[-1] = (*blocks[-1], "classifier.0")
    return tuple(blocks)


def small_cnn_blocks() -> tuple[Block, ...]:
    return tuple((f"features.{4 * k}", f"features.{4 * k + 1}") for k in range(4))


# ---------------------------------------------------------------- the table
def _torchvision(name: str, family: str, head: str, layer: str, **extra: Any) -> ModelSpec:
    """A torchvision ImageNet model: RGB input, torchvision's published weights."""
    extra.setdefault("default_size", 224)
    return ModelSpec(
        name=name, kind="2d", family=family, factory="torchvision", head=head,
        gradcam_layer=layer, weights="torchvision", cost=COSTS[name], **extra,
    )  # fmt: skip


def _small_cnn(name: str, ndim: int) -> ModelSpec:
    return ModelSpec(
        name=name, kind=f"{ndim}d", family="small_cnn", factory="small_cnn", default_size=64,
        head="head", gradcam_layer="features.12", blocks=small_cnn_blocks(),
        params=MappingProxyType({"ndim": ndim}), channels=1 if ndim == 3 else None,
        cost=COSTS[name],
    )  # fmt: skip


def _specs_3d() -> list[ModelSpec]:
    """MedicalNet's 3D ResNets (MONAI), then the small 3D CNN."""
    medicalnet = [
        ModelSpec(
            name=f"medicalnet_resnet{depth}",
            kind="3d",
            family="medicalnet",
            factory="medicalnet",
            default_size=96,
            head="fc",
            gradcam_layer="layer4",
            blocks=resnet_blocks(layers),
            params=MappingProxyType(
                {"depth": depth, "shortcut": shortcut, "bias_downsample": bias}
            ),
            channels=1,
            weights="medicalnet",
            file_extras=("conv_seg",),
            cost=COSTS[f"medicalnet_resnet{depth}"],
        )  # fmt: skip
        for depth, (shortcut, bias, layers) in MEDICALNET.items()
    ]
    return [*medicalnet, _small_cnn("cnn3d_small", 3)]


def mobilenet_v2_blocks(inverted_residuals: int) -> tuple[Block, ...]:
    return tuple((f"features.{k}",) for k in range(inverted_residuals + 2))


def inception_blocks(row: tuple[tuple[str, ...], tuple[str, ...]]) -> tuple[Block, ...]:
    stem, modules = row
    return tuple((p,) for p in stem) + tuple((f"Mixed_{m}",) for m in modules)


# Inception v3 without its auxiliary classifier (docs/fine_tuning.md says why): published
# files carry AuxLogits.*, skipped on loading like the ImageNet head.
_INCEPTION_EXTRA = {
    "default_size": 299,
    "min_size": 75,
    "file_extras": ("AuxLogits",),
    "params": MappingProxyType({"aux_logits": False, "init_weights": True}),
}
# (parameter table, family, head, Grad-CAM layer, blocks from a table row, other spec fields)
_TORCHVISION_FAMILIES: tuple[tuple[Mapping[str, Any], str, str, str, Any, dict[str, Any]], ...] = (
    (RESNET_LAYERS, "resnet", "fc", "layer4", resnet_blocks, {}),
    (MOBILENET_V2, "mobilenet", "classifier.1", "features", mobilenet_v2_blocks, {}),
    (DENSENET_BLOCKS, "densenet", "classifier", "features", densenet_blocks, {}),
    (VGG_CFG, "vgg", "classifier.6", "features", vgg_blocks, {}),
    (EFFICIENTNET_STAGES, "efficientnet", "classifier.1", "features", efficientnet_blocks, {}),
    (INCEPTION, "inception", "fc", "Mixed_7c", inception_blocks, _INCEPTION_EXTRA),
    (CONVNEXT_DEPTHS, "convnext", "classifier.2", "features", convnext_blocks, {"min_size": 32}),
)


def _specs_2d() -> list[ModelSpec]:
    """The torchvision families, each from its parameter table, then the small 2D CNN."""
    specs = [
        _torchvision(name, family, head, layer, blocks=blocks_of(row), **extra)
        for table, family, head, layer, blocks_of, extra in _TORCHVISION_FAMILIES
        for name, row in table.items()
    ]
    return [*specs, _small_cnn("cnn_small", 2)]


SPECS: Mapping[str, ModelSpec] = MappingProxyType({s.name: s for s in _specs_3d() + _specs_2d()})


class UnknownModel(ValueError):
    """A model name the table does not know."""


def spec(name: str) -> ModelSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise UnknownModel(f"unknown model {name!r} (choose from {', '.join(SPECS)})") from None


def names(kind: str | None = None) -> tuple[str, ...]:
    """Model names in table order (3D first), optionally only of one kind."""
    return tuple(n for n, s in SPECS.items() if kind is None or s.kind == kind)


# ---------------------------------------------------------------- --train-layers values
TRAIN_LAYERS = ("head", "last:N", "all")
_LAST = re.compile(r"last:(\d+)")


class TrainLayersError(ValueError):
    """A --train-layers value that is not head, all or last:N."""


def parse_train_layers(text: str) -> int | None:
    """The number of blocks trained besides the head: 0 for ``head``, N for ``last:N``,
    None (every block) for ``all``."""
    value = str(text).strip()
    if value == "all":
        return None
    if value == "head":
        return 0
    match = _LAST.fullmatch(value)
    if match is None:
        raise TrainLayersError(
            f"--train-layers must be head, all or last:N with N >= 0 (got {text!r})"
        )
    return int(match.group(1))


def fine_tuning_warnings(model: str | None, train_layers: str, pretrained: str | None) -> list[str]:
    """The plan check's warnings about what trains (training/plan.py calls this)."""
    try:
        n = parse_train_layers(train_layers)
    except TrainLayersError:
        return []  # TrainConfig.validate reports it as an error
    found = SPECS.get(model or "")
    if n is None or (found is not None and n >= len(found.blocks)) or pretrained:
        return []
    what = "only the head trains" if n == 0 else f"only the head and the last {n} blocks train"
    return [
        f"Layers frozen without pretrained weights ({what}): a frozen random encoder learns "
        "little. Choose a weights file, or train all layers."
    ]
