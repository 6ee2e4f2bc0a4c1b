"""Grad-CAM saliency for one item with a finished run's fold models (2D and 3D).

The map is Grad-CAM (Selvaraju et al.) on the last convolutional layer: the layer's
activations weighted by the spatially averaged gradient of the explained score, ReLU, then
upsampled to the model input and resampled back to the item's own (z, y, x) grid, so it can
be drawn over any plane of the slice view. With several folds the maps are averaged (the same
ensemble that predicts). The explained score is the predicted class: for a binary (one-logit)
model that is the logit when the prediction is positive and its negative otherwise, so the
map always shows evidence *for what the model says*.

Implemented with forward/backward hooks rather than ``monai.visualize.GradCAM`` because MONAI's
class selects a logit index and cannot explain the negative class of a one-logit model.

``gradcam_job`` is a ``medview.jobs.runner`` target: the window runs it in a one-shot spawned
process, so torch never loads in the GUI process; the map comes back as a small .npy file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medview.core import messages as msg
from medview.core.errors import MedviewError
from medview.core.project import Item, Project
from medview.core.run_folder import RunFolder
from training.data import load_items
from training.model_specs import SPECS
from training.models import build_model
from training.transforms import PrepSettings
from training.weights import load_weights


class GradCamError(MedviewError):
    """The run or item cannot be explained (weights missing, wrong kind, unreadable)."""


def target_layer(model: nn.Module, model_name: str) -> nn.Module:
    """The model's Grad-CAM layer (ModelSpec.gradcam_layer: its last spatial feature map),
    else its last convolution."""
    found = SPECS.get(model_name)
    name = found.gradcam_layer if found else None
    modules = dict(model.named_modules())
    if name and name in modules:
        return modules[name]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Conv3d)]
    if not convs:
        raise GradCamError(f"{model_name}: no convolutional layer to explain")
    return convs[-1]


def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(map at the input's spatial size, class probabilities) for one input (1, C, ...)."""
    saved: dict[str, torch.Tensor] = {}

    def forward_hook(_m: nn.Module, _i: Any, output: torch.Tensor) -> None:
        saved["a"] = output
        output.register_hook(lambda g: saved.__setitem__("g", g))

    handle = layer.register_forward_hook(forward_hook)
    try:
        model.eval()
        x = x.clone().requires_grad_(True)  # gradients flow even through a frozen encoder
        logits = model(x)
        if logits.shape[1] == 1:
            p = torch.sigmoid(logits[0, 0])
            probs = torch.stack([1 - p, p])
            score = logits[0, 0] if p >= 0.5 else -logits[0, 0]
        else:
            probs = torch.softmax(logits[0], dim=0)
            score = logits[0, int(probs.argmax())]
        model.zero_grad(set_to_none=True)
        score.backward()
    finally:
        handle.remove()
    a, g = saved["a"].detach(), saved["g"].detach()
    dims = tuple(range(2, a.ndim))
    weights = g.mean(dim=dims, keepdim=True)
    cam = F.relu((weights * a).sum(dim=1, keepdim=True))
    mode = "trilinear" if cam.ndim == 5 else "bilinear"
    cam = F.interpolate(cam, size=tuple(x.shape[2:]), mode=mode, align_corners=False)[0, 0]
    return cam.numpy(), probs.detach().numpy().astype(np.float64)


def _resample(cam: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Model-input grid -> the item's (z, y, x). Preprocessing resized without keeping the
    aspect ratio (training.transforms), so a plain resize is its exact inverse."""
    t = torch.from_numpy(np.ascontiguousarray(cam, dtype=np.float32))
    if t.ndim == 2:
        out = F.interpolate(t[None, None], size=shape[1:], mode="bilinear", align_corners=False)
        return out[0].numpy()  # (1, y, x)
    out = F.interpolate(t[None, None], size=shape, mode="trilinear", align_corners=False)
    return out[0, 0].numpy()


def compute_gradcam(
    project: Project, run_id: str, item: Item, folds: list[int] | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Saliency (z, y, x) float32 in [0, 1] for ``item`` and facts about it."""
    folder = RunFolder(project.run_dir(run_id))  # a link at runs/ or runs/<id> is refused
    config = _run_config(folder, run_id, item)
    classes: list[str] = config.get("resolved", {}).get("classes") or []
    available = folder.weight_folds()
    folds = [f for f in (folds or available) if f in available]
    if not folds:
        raise GradCamError(f"run {run_id} has no trained fold weights")
    x = _model_input(project, item, config)
    cam, probs = _ensemble_cam(folder, config, folds, len(classes), x)
    out = np.clip(_resample(cam, tuple(item.shape[:3])), 0.0, 1.0).astype(np.float32)
    facts = {
        "item_id": item.id,
        "run_id": run_id,
        "model": config["model"],
        "folds": folds,
        "classes": classes,
        "probabilities": probs.tolist(),
        "predicted": classes[int(probs.argmax())] if classes else None,
        "shape": list(out.shape),
    }
    return out, facts


def _run_config(folder: RunFolder, run_id: str, item: Item) -> dict[str, Any]:
    """The run's config.json, checked against the item's kind."""
    if not folder.config.is_file():
        raise GradCamError(f"{folder.config}: run configuration missing")
    config: dict[str, Any] = json.loads(folder.config.read_text(encoding="utf-8"))
    kind = config.get("resolved", {}).get("kind", "3d")
    if item.kind != kind:
        raise GradCamError(
            f"{item.name} is {item.kind.upper()}; run {run_id} was trained on {kind.upper()} items"
        )
    return config


def _model_input(project: Project, item: Item, config: dict[str, Any]) -> torch.Tensor:
    """The item preprocessed exactly as the run's training preprocessed it: (1, C, ...)."""
    resolved = config.get("resolved", {})
    kind = resolved.get("kind", "3d")
    prep = PrepSettings(
        3 if kind == "3d" else 2,
        int(config["size"]),
        int(resolved.get("channels", 1)),
        tuple(config["ct_window"]) if config.get("ct_window") else None,
    )
    data = load_items(project, [item], prep, [], use_cache=bool(config.get("cache", True)))
    if not data.items:
        reason = data.skipped[0] if data.skipped else "unreadable"
        raise GradCamError(f"cannot read {item.name}: {reason}")
    return data.x[:1].float()


def _ensemble_cam(
    folder: RunFolder, config: dict[str, Any], folds: list[int], n_classes: int, x: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """The folds' maps (each scaled to peak 1, so each fold counts the same) averaged and
    scaled to peak 1, and the folds' mean class probabilities."""
    model_name = config["model"]
    channels = int(config.get("resolved", {}).get("channels", 1))
    total = np.zeros(x.shape[2:], dtype=np.float64)
    probs = np.zeros(n_classes)
    for fold in folds:
        model = build_model(model_name, n_classes, channels)
        load_weights(model, folder.weights(fold))
        cam, p = grad_cam(model, target_layer(model, model_name), x)
        peak = float(cam.max())
        total += cam / peak if peak > 0 else cam
        probs += p
    cam = total / len(folds)
    peak = float(cam.max())
    return (cam / peak if peak > 0 else cam), probs / len(folds)


def gradcam_job(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """Runner target: {"project", "run_id", "item_id"[, "folds", "threads"]} -> a .npy file,
    reported by ``finished`` (``output`` is the file, ``summary`` the facts)."""

    def emit(message: msg.Message) -> None:
        queue.put(message.to_dict())

    with msg.final_message_guard(emit):
        torch.set_num_threads(int(config.get("threads") or 1))
        with Project.open(config["project"]) as project:
            item = project.get_item(int(config["item_id"]))
            cam, facts = compute_gradcam(project, str(config["run_id"]), item, config.get("folds"))
            out = project.cache_file("gradcam", f"{config['run_id']}-{item.id}", ".npy")
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp.npy")
            np.save(tmp, cam)
            tmp.replace(out)
            run_dir = project.runs_dir / str(config["run_id"])
        emit(msg.Finished(str(config["run_id"]), str(run_dir), facts, output=str(out)))


def load_map(path: str | Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)
