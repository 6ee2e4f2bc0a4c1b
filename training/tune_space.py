"""What ``medview tune`` searches: the space as data (stored in the study spec, shown in the
window) and the trial's suggestions from it. No torch, no Optuna at import.

``--train-layers`` is searched only when the search starts from pretrained weights: frozen
blocks of a random network learn little (docs/fine_tuning.md), so trials spent on freezing a
random encoder would be wasted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from training.config import model_kind
from training.model_specs import SPECS

NOT_SEARCHED_WITHOUT_WEIGHTS = (
    "--train-layers is searched only from pretrained weights (--pretrained): frozen layers "
    "of a random network learn little"
)


def train_layers_choices(models: Sequence[str]) -> list[str]:
    """head, two depths (a quarter and a half of the smallest block count among the models,
    so every choice means the same for each of them) and all."""
    blocks = min(len(SPECS[m].blocks) for m in models)
    depths = sorted({max(1, blocks // 4), max(1, blocks // 2)})
    return ["head", *(f"last:{n}" for n in depths), "all"]


def search_space(models: Sequence[str], pretrained: str | None = None) -> dict[str, Any]:
    """The space: learning rate, batch size, weight decay, augmentation; the model when
    several are given; the trained layers when starting from pretrained weights."""
    three_d = model_kind(models[0]) == "3d"
    space: dict[str, Any] = {
        "lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
        "batch_size": {"type": "categorical", "choices": [2, 4, 8] if three_d else [8, 16, 32]},
        "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
        "augment": {"type": "categorical", "choices": ["none", "light", "strong"]},
    }
    if len(models) > 1:
        space["model"] = {"type": "categorical", "choices": list(models)}
    if pretrained:
        space["train_layers"] = {"type": "categorical", "choices": train_layers_choices(models)}
    return space


def not_searched(pretrained: str | None) -> str:
    """What the search leaves out and why (stored in the spec; "" when nothing is)."""
    return "" if pretrained else NOT_SEARCHED_WITHOUT_WEIGHTS


def suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    params = {}
    for name, spec in space.items():
        if spec["type"] == "float":
            params[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec["log"])
        else:
            params[name] = trial.suggest_categorical(name, spec["choices"])
    return params
