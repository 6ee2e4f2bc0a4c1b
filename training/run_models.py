"""A finished run's fold models, rebuilt from its folder (config.json + fold<i>.safetensors).

Shared by ``medview export --format onnx|torchscript`` (training/model_export.py) and
``medview apply`` (training/apply.py): both need the same models, the same preprocessing
settings and the same class names as the run validated with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medview.core.errors import MedviewError
from medview.core.project import Project
from training.models import build_model
from training.transforms import PrepSettings
from training.weights import load_weights


class RunModelError(MedviewError):
    """The run has no usable models (unfinished, weights or config missing, ...)."""


@dataclass
class RunModels:
    run_id: str
    run_dir: Path
    config: dict[str, Any]
    model_name: str
    classes: list[str]
    kind: str  # "2d" | "3d": the item kind the models take
    prep: PrepSettings
    folds: list[int]

    def build(self, fold: int) -> nn.Module:
        """Fold ``fold``'s model on the CPU in eval mode."""
        path = self.run_dir / f"fold{fold}.safetensors"
        if not path.is_file():
            raise RunModelError(f"{path}: fold weights missing")
        model = build_model(self.model_name, len(self.classes), self.prep.channels)
        load_weights(model, path)
        return model.eval()


def load_run_models(project: Project, run_id: str) -> RunModels:
    run = project.get_run(run_id)  # a clear error for an unknown run
    run_dir = project.run_dir(run_id)  # a link at runs/ or runs/<id> is refused
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise RunModelError(f"{config_path}: run configuration missing")
    config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
    resolved = config.get("resolved", {})
    classes: list[str] = list(resolved.get("classes") or [])
    if len(classes) < 2:
        raise RunModelError(f"{config_path}: the run names no classes")
    folds = sorted(
        int(p.stem.removeprefix("fold"))
        for p in run_dir.glob("fold*.safetensors")
        if p.stem.removeprefix("fold").isdigit()
    )
    if not folds:
        raise RunModelError(f"run {run_id} ({run.status}) has no trained fold weights")
    kind = resolved.get("kind", "3d")
    prep = PrepSettings(
        3 if kind == "3d" and not config.get("slices") else 2,  # slice mode: a 2D model
        int(config["size"]),
        int(resolved.get("channels", 1)),
        tuple(config["ct_window"]) if config.get("ct_window") else None,
    )
    model_name = str(resolved.get("model") or config["model"])
    return RunModels(run_id, run_dir, config, model_name, classes, kind, prep, folds)


class ProbabilityEnsemble(nn.Module):
    """Mean class probabilities of the given models: the run's prediction in one module.

    A binary model has one output (the logit of the second class), turned into
    ``[1 - p, p]`` exactly as the engine does (training.loop.probabilities), so a consumer of
    the exported file always reads one probability per class name.
    """

    def __init__(self, models: list[nn.Module], binary: bool) -> None:
        super().__init__()
        self.members = nn.ModuleList(models)
        self.binary = binary

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(0)
        for k, model in enumerate(self.members):
            logits = model(x)
            if self.binary:
                p = torch.sigmoid(logits.reshape(-1))
                probs = torch.stack([1 - p, p], dim=1)
            else:
                probs = torch.softmax(logits, dim=1)
            total = probs if k == 0 else total + probs
        return total / len(self.members)


def ensemble_module(models: RunModels, fold: int | None = None) -> ProbabilityEnsemble:
    """All folds' models averaged, or fold ``fold`` alone."""
    if fold is not None and fold not in models.folds:
        raise RunModelError(
            f"run {models.run_id} has no fold {fold} (folds: {', '.join(map(str, models.folds))})"
        )
    chosen = [fold] if fold is not None else models.folds
    return ProbabilityEnsemble([models.build(f) for f in chosen], len(models.classes) == 2).eval()
