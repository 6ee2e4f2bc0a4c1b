"""Partial fine-tuning: ``--train-layers head | last:N | all`` (docs/fine_tuning.md).

``head`` trains only the new classification head; ``last:N`` the head and the last N
parameterised blocks of the model (what a block is per family: ``model_specs.FAMILY_BLOCKS``);
``all`` everything. Frozen blocks get ``requires_grad=False`` *and* stay in eval mode while
the rest trains, so their BatchNorm running statistics stay what the pretrained file (or the
initialisation) set: a "frozen" layer whose statistics drift with each batch is not frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from training.model_specs import Block, ModelSpec, parse_train_layers, spec
from training.models import build_model, get_module


@dataclass(frozen=True)
class FreezeInfo:
    train_layers: str
    blocks_trained: int  # of the model's parameterised blocks (the head not counted)
    blocks_total: int
    trainable_parameters: int
    parameters: int

    def summary(self) -> str:
        share = self.trainable_parameters / max(1, self.parameters)
        return (
            f"--train-layers {self.train_layers}: {self.blocks_trained} of {self.blocks_total} "
            f"blocks + head trainable, {self.trainable_parameters:,} of {self.parameters:,} "
            f"parameters ({share:.1%})"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "train_layers": self.train_layers,
            "blocks_trained": self.blocks_trained,
            "blocks_total": self.blocks_total,
            "trainable_parameters": self.trainable_parameters,
            "parameters": self.parameters,
        }


def trained_blocks(model_spec: ModelSpec, train_layers: str) -> tuple[Block, ...]:
    """The blocks that train (input-to-output order); last:N beyond the count means all."""
    n = parse_train_layers(train_layers)
    blocks = model_spec.blocks
    if n is None or n >= len(blocks):
        return blocks
    return blocks[len(blocks) - n :] if n else ()


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def apply_train_layers(model: nn.Module, name: str, train_layers: str) -> FreezeInfo:
    """Set ``requires_grad`` per parameter: the head and the chosen blocks train."""
    model_spec = spec(name)
    chosen = trained_blocks(model_spec, train_layers)
    prefixes = (model_spec.head, *(path for block in chosen for path in block))
    everything = len(chosen) == len(model_spec.blocks)
    trainable = total = 0
    for pname, param in model.named_parameters():
        param.requires_grad = everything or _under(pname, prefixes)
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
    return FreezeInfo(train_layers, len(chosen), len(model_spec.blocks), trainable, total)


def frozen_modules(model: nn.Module, name: str, train_layers: str) -> list[nn.Module]:
    """The top modules of every frozen block (what stays in eval mode during training)."""
    model_spec = spec(name)
    chosen = set(trained_blocks(model_spec, train_layers))
    return [
        get_module(model, path)
        for block in model_spec.blocks
        if block not in chosen
        for path in block
    ]


def count_train_layers(name: str, n_classes: int, channels: int, train_layers: str) -> FreezeInfo:
    """Trainable / total parameters without building the real model (on the meta device:
    no memory, no initialisation cost), for config.json before the first fold starts."""
    import torch

    with torch.device("meta"):
        model = build_model(name, n_classes, channels)
    return apply_train_layers(model, name, train_layers)


def set_train_mode(model: nn.Module, name: str, train_layers: str) -> None:
    """train() for the parts that learn; eval() for frozen blocks (BatchNorm statistics and
    dropout inside them stay fixed). Called at the start of every epoch."""
    model.train()
    for module in frozen_modules(model, name, train_layers):
        module.eval()


def freeze_encoder(model: nn.Module, name: str) -> int:
    """Train only the head (``--train-layers head``). Returns the trainable parameter count."""
    return apply_train_layers(model, name, "head").trainable_parameters
