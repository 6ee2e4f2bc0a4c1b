"""What a fold trains with: the loss (class-weighted on request), the optimizer, the
learning-rate schedule and the weight average (EMA).

Binary tasks train one logit with BCEWithLogits (``pos_weight`` = negatives/positives when
class weighting is on); multiclass tasks use cross-entropy (optionally class-weighted and
label-smoothed). Probabilities are computed in float64 (see ``probabilities``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from training.engine.data import class_weight_vector
from training.recipe.config import TrainConfig


def make_criterion(
    n_classes: int,
    y_train: torch.Tensor,
    weighted: bool | None,  # None (Auto left it): off
    device: torch.device,
    label_smoothing: float = 0.0,
) -> nn.Module:
    if n_classes == 2:
        pos_weight = None
        if weighted:
            positives = float((y_train == 1).sum())
            negatives = float((y_train == 0).sum())
            pos_weight = torch.tensor([negatives / max(positives, 1.0)], device=device)
        return nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    weight = class_weight_vector(y_train, n_classes).to(device) if weighted else None
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)


def loss_of(criterion: nn.Module, logits: torch.Tensor, y: torch.Tensor, binary: bool):
    if binary:
        return criterion(logits.reshape(-1), y.float())
    return criterion(logits, y)


def probabilities(logits: torch.Tensor, binary: bool) -> torch.Tensor:
    # float64: a float32 sigmoid rounds every logit above ~17 to exactly 1.0, and such ties
    # would hide a model's ranking from the ROC AUC.
    logits = logits.double()
    if binary:
        p = torch.sigmoid(logits.reshape(-1))
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(logits, dim=1)


def make_optimizer(cfg: TrainConfig, params: Sequence[nn.Parameter]) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay or 1e-2)
    if cfg.optimizer == "sgd":
        decay = cfg.weight_decay
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int = 1):
    """The learning-rate schedule. ``step`` is stepped once per epoch; ``cosine`` (with a
    linear warm-up of ``warmup_epochs``) and ``onecycle`` once per optimizer step, which is what
    makes a warm-up work on small sets with a handful of steps per epoch."""
    cfg = cfg.with_defaults()
    assert cfg.epochs is not None and cfg.warmup_epochs is not None  # with_defaults set them
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    total = max(1, cfg.epochs * steps_per_epoch)
    if cfg.scheduler == "cosine":
        warm = min(total - 1, cfg.warmup_epochs * steps_per_epoch)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / (warm + 1)
            progress = (step - warm) / max(1, total - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        scheduler.per_step = True
        return scheduler
    if cfg.scheduler == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=total, pct_start=0.25
        )
        scheduler.per_step = True
        return scheduler
    return None


class EmaWeights:
    """An exponential moving average of the floating-point parameters. Evaluation swaps it in
    (BatchNorm statistics are then recomputed for it by ``precise_bn``); training continues on
    the live weights. The decay warms up as ``(1 + t) / (10 + t)`` so that a run of a few
    dozen steps (a small medical set) averages recent weights instead of its random start."""

    def __init__(self, model: nn.Module, decay: float = 0.99) -> None:
        self.decay = decay
        self.steps = 0
        self.shadow = {
            name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for name, p in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].mul_(d).add_(p.detach(), alpha=1 - d)

    @torch.no_grad()
    def swap(self, model: nn.Module) -> None:
        """Exchange the live and the averaged weights (call again to swap back)."""
        for name, p in model.named_parameters():
            if name in self.shadow:
                live = p.detach().clone()
                p.copy_(self.shadow[name])
                self.shadow[name] = live
