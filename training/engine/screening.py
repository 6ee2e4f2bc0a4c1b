"""Auto's screening (issue 25, docs/auto.md): a few from-scratch candidates from the model
registry are trained briefly on an inner split of the cross-validation pool, with successive
halving (Optuna's ``SuccessiveHalvingPruner``) on the validation loss; the one with the lowest
inner validation loss becomes the run's model. The test split is never seen here.

Candidates are (model, input size) pairs. A candidate is screened only when the effort can
afford it: its screening epochs within a quarter of one fold's work, and the final run's epoch
floor within the fold's work (so ResNet-18 at 128 px on a CPU is tried at 64 px, or not at all).
Quick check does not screen (its minute buys one model: the small CNN).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from training.recipe.auto import EPOCH_BOUNDS, WORK_PER_FOLD
from training.recipe.config import TrainConfig
from training.recipe.model_costs import macs
from training.recipe.model_specs import spec

CANDIDATES = {
    "2d": ("cnn_small", "resnet18", "efficientnet_b0", "mobilenet_v2"),
    "3d": ("cnn3d_small", "medicalnet_resnet10", "medicalnet_resnet18"),
}
INNER_VAL = 0.2  # share of the pool (per class) the candidates are validated on
SCREEN_EPOCHS = {"standard": (3, 8), "thorough": (4, 16)}  # (fewest, most) per candidate
SCREEN_SHARE = 0.25  # of one fold's work, per candidate (successive halving spends less)


@dataclass
class Candidate:
    model: str
    size: int
    epochs: int = 0
    best_val_loss: float | None = None
    epochs_run: int = 0
    pruned: bool = False
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        loss = None if self.best_val_loss is None else round(self.best_val_loss, 4)
        return {**dataclasses.asdict(self), "best_val_loss": loss, "seconds": round(self.seconds)}


@dataclass
class Screening:
    candidates: list[Candidate]
    winner: Candidate | None
    n_inner_train: int
    n_inner_val: int
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why not screened

    def table(self) -> list[str]:
        rows = [f"{'model':<22}{'size':>5}{'epochs':>8}{'val loss':>10}  outcome"]
        for c in self.candidates:
            loss = "-" if c.best_val_loss is None else f"{c.best_val_loss:.4f}"
            outcome = "winner" if c is self.winner else ("pruned" if c.pruned else "")
            rows.append(f"{c.model:<22}{c.size:>5}{c.epochs_run:>8}{loss:>10}  {outcome}")
        return rows + [f"{m}: not screened ({why})" for m, why in self.skipped.items()]

    def to_json(self) -> dict[str, Any]:
        return {
            "candidates": [c.to_json() for c in self.candidates],
            "winner": self.winner.model if self.winner else None,
            "inner_split": {"train": self.n_inner_train, "val": self.n_inner_val},
            "not_screened": self.skipped,
            "note": "screened on an inner split of the cross-validation pool (never the test "
            "split); the fold scores of the chosen model can be optimistic by the choice among "
            "the candidates, the test split is not",
        }


def plan_candidates(
    kind: str, auto_size: int, native: int, n_train: int, effort: str, names: Sequence[str]
) -> tuple[list[Candidate], dict[str, str]]:
    """The affordable (model, size) pairs: Auto's size for the small CNNs; for the others the
    native side (at least 32) when the images are small, else Auto's size or half of it."""
    out, skipped = [], {}
    n_inner = max(1, round(n_train * (1 - INNER_VAL)))
    for name in names:
        small = spec(name).family == "small_cnn"
        sizes = [auto_size] if small or kind == "3d" else _sizes_2d(auto_size, native)
        chosen = None
        for size in sizes:
            size = max(size, spec(name).min_size)
            epochs = _screen_epochs(name, size, n_inner, n_train, effort)
            if epochs:
                chosen = Candidate(name, size, epochs)
                break
        if chosen is None:
            skipped[name] = f"its cost at {sizes[-1]} px leaves too few epochs at this effort"
        else:
            out.append(chosen)
    return out, skipped


def _sizes_2d(auto_size: int, native: int) -> list[int]:
    if native <= 32:  # tiny images: the ImageNet models at (about) their own size
        return [32]
    return [auto_size, max(32, auto_size // 2)]


def _screen_epochs(name: str, size: int, n_inner: int, n_train: int, effort: str) -> int:
    """Epochs a candidate gets in screening (0: unaffordable at this effort)."""
    forward = macs(name, size) or 0
    if not forward:
        return 0
    low, high = SCREEN_EPOCHS[effort]
    by_work = int(SCREEN_SHARE * WORK_PER_FOLD[effort] // (forward * n_inner))
    final_floor = EPOCH_BOUNDS[effort][0] * forward * n_train <= WORK_PER_FOLD[effort]
    return min(high, by_work) if by_work >= low and final_floor else 0


def inner_split(y: np.ndarray, seed: int) -> tuple[list[int], list[int]]:
    """A stratified split of the pool: INNER_VAL of each class (at least one, when the class
    has two or more items) for validation, the rest for training."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c)).tolist()
        k = max(1, round(len(idx) * INNER_VAL)) if len(idx) >= 2 else 0
        val += idx[:k]
        train += idx[k:]
    return sorted(train), sorted(val)


class _Pruned(Exception):
    pass


def screen(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    candidates: list[Candidate],
    cfg: TrainConfig,
    device: torch.device,
) -> tuple[Candidate | None, int, int]:
    """Successive halving over ``candidates`` (each one Optuna trial, in order) on an inner
    split of (``x``, ``y``); returns the winner and the inner split's sizes."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    train_idx, val_idx = inner_split(y.numpy(), cfg.seed)
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=2)
    study = optuna.create_study(direction="minimize", pruner=pruner)
    for k in range(len(candidates)):
        study.enqueue_trial({"candidate": k})

    def objective(trial: Any) -> float:
        cand = candidates[trial.suggest_int("candidate", 0, len(candidates) - 1)]
        return _train(cand, trial, x, y, n_classes, train_idx, val_idx, cfg, device)

    study.optimize(objective, n_trials=len(candidates), catch=())
    done = [c for c in candidates if c.best_val_loss is not None and not c.pruned]
    winner = min(done, key=lambda c: c.best_val_loss or math.inf) if done else None
    return winner, len(train_idx), len(val_idx)


def _train(
    cand: Candidate,
    trial: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    train_idx: list[int],
    val_idx: list[int],
    cfg: TrainConfig,
    device: torch.device,
) -> float:
    """One candidate: the run's recipe for ``cand.epochs`` epochs; each epoch's validation
    loss is reported to the pruner."""
    import optuna

    from training.engine.freeze import set_train_mode
    from training.engine.loop import fit

    started = time.perf_counter()
    run_cfg = _screen_config(cfg, cand, len(train_idx))
    model, ctx = _model_and_context(cand, x, y, n_classes, run_cfg, device)
    ctx.on_epoch = functools.partial(_report, cand, trial)
    try:
        mode = functools.partial(set_train_mode, model, cand.model, "all")
        fit(model, model, run_cfg, ctx, train_idx, val_idx, mode, 0)
    except _Pruned:
        cand.pruned = True
        raise optuna.TrialPruned from None
    finally:
        cand.seconds = time.perf_counter() - started
    return cand.best_val_loss if cand.best_val_loss is not None else math.inf


def _report(cand: Candidate, trial: Any, row: dict[str, Any]) -> None:
    """An epoch's validation loss to the pruner; stops the candidate when it says so."""
    loss = float(row["val_loss"])
    cand.best_val_loss = min(cand.best_val_loss or math.inf, loss)
    cand.epochs_run = int(row["epoch"])
    trial.report(loss, cand.epochs_run)
    if trial.should_prune():
        raise _Pruned


def _model_and_context(
    cand: Candidate,
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    cfg: TrainConfig,
    device: torch.device,
) -> tuple[torch.nn.Module, Any]:
    from training.engine.batches import model_to_fast_layout
    from training.engine.loop import Context, seed_everything
    from training.engine.models import build_model
    from training.engine.transforms import build_augmentation

    inputs = _resized(x, cand)
    channels, ndim = int(inputs.shape[1]), inputs.ndim - 2
    seed_everything(cfg.seed)
    built = build_model(cand.model, n_classes, channels).to(device)
    model = model_to_fast_layout(built, cand.model, ndim, device)
    augment = build_augmentation(cfg.augment or "none", ndim, channels, cfg.seed)
    return model, Context(inputs, y, n_classes, device, augment)


def _screen_config(cfg: TrainConfig, cand: Candidate, n_train: int) -> TrainConfig:
    """The run's recipe at the candidate's epochs, batch size from the data (no patience)."""
    from training.engine.batch_size import CPU_BATCH, data_cap

    kind = spec(cand.model).kind
    batch = min(CPU_BATCH.get(kind, 32), data_cap(n_train, kind))
    return dataclasses.replace(
        cfg, model=cand.model, size=cand.size, epochs=cand.epochs, batch_size=batch,
        warmup_epochs=1, patience=0, precise_bn=False,
    ).with_defaults()  # fmt: skip


def _resized(x: torch.Tensor, cand: Candidate) -> torch.Tensor:
    """The pool at the candidate's size and channels (3 for the ImageNet models)."""
    import torch.nn.functional as F

    spatial = x.ndim - 2
    out = x
    if tuple(x.shape[2:]) != (cand.size,) * spatial:
        mode = "bilinear" if spatial == 2 else "trilinear"
        out = F.interpolate(x, size=(cand.size,) * spatial, mode=mode, align_corners=False)
    wanted = spec(cand.model).channels
    if wanted == 3 and out.shape[1] == 1:
        out = out.expand(-1, 3, *out.shape[2:])
    elif wanted == 1 and out.shape[1] == 3:
        out = out.mean(dim=1, keepdim=True)
    return out.contiguous()


def wanted(cfg: TrainConfig, kind: str, world_size: int, model_given: bool) -> tuple[str, ...]:
    """The candidate models to screen, or () when Auto does not screen: a model was given,
    quick check, a --fold job or a multi-GPU run (both must agree without training), slice
    mode. ``cfg.extra["screen_candidates"]`` replaces the list (tests, experiments)."""
    if not cfg.auto or model_given or cfg.effort == "quick":
        return ()
    if cfg.fold is not None or world_size > 1 or cfg.slices is not None:
        return ()
    names = tuple(cfg.extra.get("screen_candidates") or CANDIDATES.get(kind, ()))
    return names if len(names) > 1 else ()


def run_screening(inputs: Any, names: Sequence[str], auto_size: int, native: int) -> Screening:
    """Load the cross-validation pool (not the test split) at Auto's size, plan the
    affordable candidates and screen them. ``inputs``: the run's RunInputs so far."""
    from training.engine.data import load_items
    from training.engine.transforms import PrepSettings

    cfg = inputs.cfg
    pool = [it for it in inputs.items if it.split != "test"]
    n_train = round(len(pool) * (1 - 1 / cfg.folds)) if not cfg.holdout else round(len(pool) * 0.85)
    cands, skipped = plan_candidates(inputs.kind, auto_size, native, n_train, cfg.effort, names)
    if len(cands) < 2:
        return Screening(cands, cands[0] if cands else None, 0, 0, skipped)
    ndim = 2 if inputs.kind == "2d" else 3
    prep = PrepSettings(ndim, auto_size, inputs.channels, cfg.ct_window)
    data = load_items(inputs.project, pool, prep, inputs.classes, use_cache=cfg.cache)
    keep = data.y >= 0
    winner, n_in, n_val = screen(
        data.x[keep], data.y[keep], len(inputs.classes), cands, cfg, inputs.device
    )
    return Screening(cands, winner, n_in, n_val, skipped)
