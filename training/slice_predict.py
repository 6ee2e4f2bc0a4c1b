"""A slice-mode run's fold ensemble on volumes: each volume's slices chosen as in training
(``--slices``, key slices from the project), every fold model on every slice, the mean over
folds, then the slices aggregated to the volume (mean or max). ``medview predict`` of a
slice-mode run and the run's own "predict unlabelled" use it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from medview.core.project import Item, Project
from training.aggregate import SliceRow, volume_rows
from training.batches import model_to_fast_layout
from training.loop import Context, predict
from training.models import build_model
from training.slice_data import load_slices
from training.transforms import PrepSettings
from training.weights import load_weights


@dataclass(frozen=True)
class SliceSettings:
    slices: str
    aggregate: str = "mean"
    min_content: float = 0.05

    @classmethod
    def of(cls, config: dict) -> SliceSettings:
        """From a run's config.json (or a TrainConfig dict)."""
        return cls(
            str(config["slices"]),
            str(config.get("slice_aggregate") or "mean"),
            float(config.get("slice_min_content", 0.05)),
        )


def ensemble_slices(
    project: Project,
    run_dir: Path,
    model_name: str,
    classes: Sequence[str],
    prep: PrepSettings,
    settings: SliceSettings,
    items: Sequence[Item],
    device: torch.device,
    folds: Sequence[int],
    batch_size: int = 8,
    tta: bool = False,
) -> tuple[np.ndarray, list[Item]]:
    """(volume probabilities, the volumes read); unreadable volumes are left out."""
    data = load_slices(
        project, items, prep, [], settings.slices,
        keys=project.key_slices(), min_content=settings.min_content,
    )  # fmt: skip
    if not data.items:
        return np.zeros((0, len(classes))), []
    ctx = Context(data.x, data.y, len(classes), device, tta=tta)
    total = np.zeros((data.n_slices, len(classes)))
    for fold in folds:
        model = build_model(model_name, len(classes), prep.channels)
        load_weights(model, run_dir / f"fold{fold}.safetensors")
        model = model_to_fast_layout(model.to(device), model_name, prep.ndim, device)
        total += predict(model, ctx, range(data.n_slices), batch_size * 2)
    mean = total / max(1, len(folds))
    rows = [
        SliceRow(data.items[int(v)].id, 0, None, None, mean[k].tolist())
        for k, v in enumerate(data.volume_of)
    ]
    by_id = {r.item_id: r.probs for r in volume_rows(rows, settings.aggregate)}
    return np.asarray([by_id[it.id] for it in data.items]), list(data.items)
