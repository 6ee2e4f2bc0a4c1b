"""A finished run's fold models, rebuilt from its folder (config.json + fold<i>.safetensors).

Shared by ``medview export --format onnx|torchscript`` (training/outputs/model_export.py) and
``medview apply`` (training/outputs/apply.py): both need the same models, the same preprocessing
settings and the same class names as the run validated with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medview.core.errors import MedviewError, ReadError
from medview.core.project import Project
from medview.core.run_folder import CONFIG, RunFolder
from medview.core.user_files import read_json_object
from training.engine.models import build_model
from training.engine.transforms import PrepSettings
from training.engine.weights import load_weights
from training.recipe.config import MODELS


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
        return fold_model(
            self.run_dir, fold, self.model_name, len(self.classes), self.prep.channels
        )


def fold_model(
    run_dir: Path, fold: int, model_name: str, n_classes: int, channels: int
) -> nn.Module:
    """One fold's model rebuilt from a run folder's weights, on the CPU in eval mode: the one
    place a finished (or finishing) run's model is made again (prediction, slice mode,
    Grad-CAM, export and apply all come here)."""
    path = RunFolder(run_dir).weights(fold)
    if not path.is_file():
        raise RunModelError(f"{path}: fold weights missing")
    model = build_model(model_name, n_classes, channels)
    load_weights(model, path)
    return model.eval()


def load_run_models(project: Project, run_id: str) -> RunModels:
    run = project.get_run(run_id)  # a clear error for an unknown run
    run_dir = project.run_dir(run_id)  # a link at runs/ or runs/<id> is refused
    config_path = run_dir / CONFIG
    if not config_path.is_file():
        raise RunModelError(f"{config_path}: run configuration missing")
    try:
        config = read_json_object(config_path, what="run configuration")
    except ReadError as exc:
        raise RunModelError(str(exc)) from exc
    resolved: dict[str, Any] = config.get("resolved") or {}
    if not isinstance(resolved, dict):
        raise RunModelError(f"{config_path}: 'resolved' is not an object")
    classes = resolved.get("classes")
    if not isinstance(classes, list) or len(classes) < 2:
        raise RunModelError(f"{config_path}: the run names no classes")
    folds = RunFolder(run_dir).weight_folds()
    if not folds:
        raise RunModelError(f"run {run_id} ({run.status}) has no trained fold weights")
    kind, prep = _prep(config, resolved, config_path)
    model_name = resolved.get("model") or config.get("model")
    if model_name not in MODELS:
        raise RunModelError(f"{config_path}: 'model' is missing or unknown ({model_name!r})")
    return RunModels(
        run_id, run_dir, config, model_name, list(map(str, classes)), kind, prep, folds
    )


def _prep(config: dict[str, Any], resolved: dict[str, Any], path: Path) -> tuple[str, PrepSettings]:
    """(item kind, preprocessing) of a run's config.json; RunModelError naming the field that
    is missing or absurd (a config.json without "size" gave "internal error: KeyError")."""
    size, channels, kind = (
        config.get("size"),
        resolved.get("channels", 1),
        resolved.get("kind", "3d"),
    )
    window = config.get("ct_window")
    if type(size) is not int or not 8 <= size <= 1024:
        raise RunModelError(f"{path}: 'size' must be a whole number from 8 to 1024 (got {size!r})")
    if channels not in (1, 3) or kind not in ("2d", "3d"):
        raise RunModelError(f"{path}: 'resolved' has an unknown kind or channel count")
    if window and not (
        isinstance(window, list) and len(window) == 2 and all(_finite(v) for v in window)
    ):
        raise RunModelError(f"{path}: 'ct_window' must be two numbers (got {window!r})")
    ndim = 3 if kind == "3d" and not config.get("slices") else 2  # slice mode: a 2D model
    return kind, PrepSettings(ndim, size, channels, tuple(window) if window else None)


def _finite(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


class ProbabilityEnsemble(nn.Module):
    """Mean class probabilities of the given models: the run's prediction in one module.

    A binary model has one output (the logit of the second class), turned into
    ``[1 - p, p]`` exactly as the engine does (training.engine.loop.probabilities), so a consumer of
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
