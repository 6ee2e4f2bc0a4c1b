"""Auto: the settings a run gets when the user leaves them alone (docs/auto.md has the rules).

``profile_items`` describes the data from the project's item table (no decoding, no torch):
kind, item size, number of items, classes, imbalance. ``auto_settings`` turns a profile, the
device type and the user's config into values for every setting the user left at None, each
with the reason, so the plan can be shown and written into config.json. The batch size is not
chosen here: it needs a timing probe (training/engine/batch_size.py), run by the engine.

Rules are grouped by item kind in ``SIZE_RULES``; a new kind (e.g. a slice mode that trains a
2D model on the slices of volumes) adds its own entry and inherits the 2D rules otherwise.
This module must stay cheap (the window's plan check imports it): no torch, no numpy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

AUTO_VERSION = 2
# Effort = an amount of training work per fold, in forward MACs x training samples (a training
# step costs about 3x that on any device), so the same project, device type and effort always
# give the same plan; the measured speed only makes the time estimate. Standard: 8e11 per fold
# is ~13 min over 5 folds for a 1,000-image 2D set on a 2-core CPU at the ~2e10 training
# MACs/s model_costs assumes (a busy machine takes longer, never trains less).
WORK_PER_FOLD = {"quick": 1.0e11, "standard": 8.0e11, "thorough": 3.2e12}
# Epochs from the work, within these bounds: the floor keeps a large set's run from being cut
# below what a fit needs (it then costs more than the effort), the ceiling keeps a tiny set
# from hundreds of epochs. Quick's 20 is the ~128 optimizer steps the example's 27 training
# items a fold (7 steps an epoch) need to fit at the 3D rate (docs/auto.md).
EPOCH_BOUNDS = {"quick": (10, 20), "standard": (15, 60), "thorough": (20, 120)}
SIZE_CAP = {("2d", "cpu"): 128, ("2d", "cuda"): 224, ("3d", "cpu"): 32, ("3d", "cuda"): 96}
QUICK_SIZE_CAP = {"2d": 64, "3d": 32}
TINY_2D = 32  # images at or below this many pixels a side are upsampled to UPSAMPLE_TO
UPSAMPLE_TO = 64
# Peak learning rate of the warm-up + cosine schedule. 3D: twice the 2D rate; on the example's
# 3D half 6e-3 reached in 128 steps the fold accuracy (0.925-0.95, 3 seeds) that 3e-3 did not
# reach in 160 (0.90-0.95) nor 300 (docs/auto.md).
PEAK_LR = {"2d": 3e-3, "3d": 6e-3, "slices": 3e-3}
IMBALANCE_WEIGHTING = 3.0  # largest / smallest class at which the loss is class-weighted
# Never fewer than this many optimizer steps per fold: fewer do not leave the initial plateau
# (on the example's 3D half at lr 3e-3 the loss stayed at ln 2 for the first ~70-110 steps).
STEP_FLOOR = 120
# Stop a fold once the validation loss has not improved for this share of its epochs (at least
# PATIENCE_MIN): the epoch ceiling is a most, not a target, on a set that fits early.
PATIENCE_SHARE, PATIENCE_MIN = 0.25, 5


def effort_of(cfg: Any) -> str:
    """The effort of a config (``quick`` of older config files is read as ``effort``)."""
    return getattr(cfg, "effort", None) or "standard"


@dataclass
class DataProfile:
    kind: str  # "2d" | "3d" (a future "slices" adds its rules in SIZE_RULES)
    n_items: int
    classes: list[str]
    counts: dict[str, int]
    median_shape: tuple[int, ...]  # (z, y, x) of the labelled items
    rgb: bool  # really colour: stored as colour and not grey in fact (training.recipe.colour_check)
    colour_check: dict[str, Any] | None = None  # what the pixels said, when they were looked at

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def imbalance(self) -> float:
        values = [v for v in self.counts.values() if v]
        return max(values) / min(values) if values else 1.0

    @property
    def extent(self) -> int:
        """The largest side of a median item (in-plane for 2D)."""
        spatial = self.median_shape[1:] if self.kind == "2d" else self.median_shape
        return max(spatial) if spatial else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n_items": self.n_items,
            "classes": self.classes,
            "counts": self.counts,
            "imbalance": round(self.imbalance, 3),
            "median_shape": list(self.median_shape),
            "rgb": self.rgb,
            "colour_check": self.colour_check,
        }


def profile_items(
    items: Sequence[Any], classes: Sequence[str], kind: str, colour: Any = None
) -> DataProfile:
    """``items``: project Items (``shape`` is (z, y, x[, c]), ``label`` a class name);
    ``colour``: a training.recipe.colour_check.ColourCheck of the colour-stored items, if made."""
    counts = Counter(it.label for it in items)
    shapes = [tuple(int(s) for s in it.shape[:3]) for it in items if len(it.shape) >= 3]
    med = tuple(int(median(s[d] for s in shapes)) for d in range(3)) if shapes else (1, 0, 0)
    rgb = any(len(it.shape) == 4 and it.shape[-1] >= 3 for it in items)
    if colour is not None and colour.is_grey:
        rgb = False  # grey images stored as RGB (ultrasound, X-ray PNGs) are grey
    return DataProfile(
        kind, len(items), list(classes), {c: counts.get(c, 0) for c in classes}, med, rgb,
        colour.to_json() if colour is not None else None,
    )  # fmt: skip


@dataclass
class AutoPlan:
    values: dict[str, Any] = field(default_factory=dict)  # setting -> value Auto chose
    reasons: dict[str, str] = field(default_factory=dict)  # setting -> why
    given: list[str] = field(default_factory=list)  # settings the user set (Auto kept them)
    plain: list[str] = field(default_factory=list)  # PLAIN_TRIGGERS the user set
    steps_per_epoch: int = 0  # optimizer steps per epoch, once the batch size is known
    screening: dict[str, Any] | None = None  # what was tried and why the winner won
    screening_table: list[str] = field(default_factory=list)  # the same, for the log

    def choose(self, name: str, value: Any, reason: str) -> None:
        self.values[name] = value
        self.reasons[name] = reason

    def to_json(self) -> dict[str, Any]:
        return {
            "version": AUTO_VERSION,
            "chosen": {k: {"value": v, "why": self.reasons[k]} for k, v in self.values.items()},
            "given_by_user": self.given,
            "screening": self.screening,
        }

    def lines(self) -> list[str]:
        out = [f"{k} = {v}  ({self.reasons[k]})" for k, v in self.values.items()]
        if self.screening_table:
            out += ["screening (inner split of the training items, successive halving):"]
            out += [f"  {row}" for row in self.screening_table]
        return out


def _round16(value: float) -> int:
    return max(16, int(16 * round(value / 16)))


def _size_2d(profile: DataProfile, device: str, quick: bool) -> tuple[int, str]:
    side = profile.extent
    cap = QUICK_SIZE_CAP["2d"] if quick else SIZE_CAP[("2d", "cuda" if device == "cuda" else "cpu")]
    if side <= TINY_2D:
        return UPSAMPLE_TO, f"tiny images ({side} px): upsampled to {UPSAMPLE_TO} px"
    size = min(_round16(side), cap)
    return size, f"median side {side} px, rounded to 16 and capped at {cap} on {device}"


def _size_3d(profile: DataProfile, device: str, quick: bool) -> tuple[int, str]:
    side = profile.extent
    cap = QUICK_SIZE_CAP["3d"] if quick else SIZE_CAP[("3d", "cuda" if device == "cuda" else "cpu")]
    size = min(_round16(side), cap)
    return (
        size,
        f"median largest extent {side} voxels, rounded to 16 and capped at {cap} on {device}",
    )


def _size_slices(profile: DataProfile, device: str, quick: bool) -> tuple[int, str]:
    """Slice mode (a 2D model on the slices of volumes): the 2D rule on the in-plane side."""
    side = max(profile.median_shape[1:]) if len(profile.median_shape) > 1 else 0
    flat = DataProfile(
        "2d", profile.n_items, profile.classes, profile.counts, (1, side, side), profile.rgb
    )
    size, why = _size_2d(flat, device, quick)
    return size, f"slices of volumes: {why}"


SIZE_RULES: dict[str, Callable[[DataProfile, str, bool], tuple[int, str]]] = {
    "2d": _size_2d,
    "3d": _size_3d,
    "slices": _size_slices,
}
MODEL_RULES = {"2d": "cnn_small", "3d": "cnn3d_small", "slices": "cnn_small"}


AUTO_SETTINGS = (
    "model",
    "size",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "optimizer",
    "scheduler",
    "warmup_epochs",
    "augment",
    "label_smoothing",
    "ema",
    "tta",
    "early_stopping",
)  # the settings Auto may choose (a value the user gave is kept and listed as given)


# A protocol that names its optimiser, learning rate or schedule ("Adam 1e-3, StepLR(7, 0.1)")
# is that and nothing more: Auto's own recipe parts then stay off unless set too.
PLAIN_TRIGGERS = ("optimizer", "lr", "scheduler")
RECIPE_OFF: dict[str, Any] = {
    "weight_decay": 0.0,
    "ema": False,
    "tta": False,
    "label_smoothing": 0.0,
    "warmup_epochs": 0,
}


def auto_settings(cfg: Any, profile: DataProfile, device: str) -> AutoPlan:
    """Values for the settings ``cfg`` leaves at None (batch size excepted)."""
    plan = AutoPlan(given=[name for name in AUTO_SETTINGS if getattr(cfg, name) is not None])
    plan.plain = [name for name in PLAIN_TRIGGERS if getattr(cfg, name) is not None]
    if plan.plain:
        _keep_plain(plan, cfg)
    _choose_model_and_size(plan, cfg, profile, device)
    _choose_recipe(plan, cfg, profile)
    _choose_augment(plan, cfg, profile)
    _choose_loss(plan, cfg, profile)
    return plan


def _keep_plain(plan: AutoPlan, cfg: Any) -> None:
    """Auto's recipe parts off (RECIPE_OFF) where the user, who set the optimiser, learning
    rate or schedule, left them unset."""
    why = f"off: you set the {' and '.join(plan.plain)}, so Auto adds none of its recipe"
    for name, value in RECIPE_OFF.items():
        if getattr(cfg, name) is None:
            plan.choose(name, value, why)


def _choose_model_and_size(plan: AutoPlan, cfg: Any, profile: DataProfile, device: str) -> None:
    kind, model = profile.kind, cfg.model
    if model is None:
        model = MODEL_RULES.get(kind, "cnn_small")
        why = f"{kind.upper()} items trained from scratch: a small CNN learns small sets fastest"
        plan.choose("model", model, why)
    if cfg.size is not None:
        return
    from training.recipe.model_specs import spec

    model_spec = spec(model)
    if model_spec.family == "small_cnn":  # Auto's own models: the size follows the data
        size, why = SIZE_RULES.get(kind, _size_2d)(profile, device, effort_of(cfg) == "quick")
    else:
        size, why = model_spec.default_size, f"the default input size of {model}"
    plan.choose("size", size, why)


def _choose_recipe(plan: AutoPlan, cfg: Any, profile: DataProfile) -> None:
    """Optimizer, learning rate and schedule, EMA and TTA (docs/auto.md, the recipe)."""
    lr = PEAK_LR.get(profile.kind, PEAK_LR["2d"])
    recipe = (
        ("optimizer", "adamw", "recipe: AdamW (decoupled weight decay)"),
        ("lr", lr, f"recipe: {profile.kind.upper()} small CNNs with BatchNorm, schedule peak"),
        ("weight_decay", 0.05, "recipe: AdamW weight decay"),
        ("scheduler", "cosine", "recipe: warm-up then cosine decay, per step"),
        ("ema", True, "recipe: evaluate an exponential moving average of the weights"),
        ("tta", True, "recipe: average each prediction with its left-right flip"),
        (
            "early_stopping",
            "loss",
            "the kept epoch has the lowest validation loss: a fold's small validation part "
            "moves its AUC in coarse steps that an early, unconfident epoch can win",
        ),
    )
    for name, value, why in recipe:
        if getattr(cfg, name) is None and name not in plan.values:  # not kept off (plain)
            plan.choose(name, value, why)


def _modality(cfg: Any, profile: DataProfile) -> tuple[str, str]:
    """ "microscopy" (no up) or "anatomy" (has an up), and why: the user's --profile, else
    really colour 2D images are microscopy."""
    given = getattr(cfg, "profile", "auto")
    if given != "auto":
        return given, "given by the user (--profile)"
    check = profile.colour_check or {}
    if profile.rgb and profile.kind != "3d":
        return "microscopy", "2D images in colour (channels differ): stained microscopy"
    if check.get("grey_in_rgb"):
        return "anatomy", (
            f"stored as RGB but grey: {check['grey']} of {check['sampled']} sampled items have "
            "channels within a few grey levels (ultrasound, X-ray); correct with --profile"
        )
    return "anatomy", "grey images (radiology, ultrasound): anatomy has an up"


def _choose_augment(plan: AutoPlan, cfg: Any, profile: DataProfile) -> None:
    modality, why_modality = _modality(cfg, profile)
    if getattr(cfg, "profile", "auto") == "auto":
        plan.choose("profile", modality, why_modality)
    if cfg.augment is not None:
        return
    if profile.kind == "3d":
        aug, why = "none", "3D: no preset has shown a gain; on the example they stop the fit"
    elif modality == "microscopy":
        aug, why = "strong", "microscopy: orientation-free, flips on both axes, zoom"
    else:
        aug, why = "light", "anatomy has an up: left-right flips and small rotations only"
    plan.choose("augment", aug, why)


def _choose_loss(plan: AutoPlan, cfg: Any, profile: DataProfile) -> None:
    """Label smoothing (multiclass only) and class weights (imbalanced sets only)."""
    if cfg.label_smoothing is None and "label_smoothing" not in plan.values:
        if profile.n_classes > 2:
            plan.choose("label_smoothing", 0.1, "multiclass: cross-entropy with smoothing 0.1")
        else:
            plan.choose("label_smoothing", 0.0, "binary: no smoothing (keeps the logits honest)")
    if cfg.class_weights is None and profile.imbalance >= IMBALANCE_WEIGHTING:
        plan.choose(
            "class_weights",
            True,
            f"classes imbalanced {profile.imbalance:.1f}:1 (>= {IMBALANCE_WEIGHTING:.0f}:1)",
        )


def planned_epochs(effort: str, n_train: int, batch_size: int, work_per_epoch: float) -> int:
    """Auto's epochs: the effort's work per fold over the work of one epoch
    (forward MACs x ``n_train``), within EPOCH_BOUNDS and never below STEP_FLOOR steps."""
    low, high = EPOCH_BOUNDS[effort]
    by_work = int(WORK_PER_FOLD[effort] // max(work_per_epoch, 1.0))
    floor = max(low, math.ceil(STEP_FLOOR / _steps(n_train, batch_size)))
    return max(floor, min(high, by_work))


def _steps(n_train: int, batch_size: int) -> int:
    return max(1, math.ceil(n_train / batch_size))


def auto_epochs(
    cfg: Any, n_train: int, batch_size: int, plan: AutoPlan, warmup_given: bool, macs: float
) -> None:
    """Epochs from the effort's work (after the batch size is known); ``macs``: one forward
    pass of the model at its input size. Also the warm-up and the patience."""
    effort = effort_of(cfg)
    steps = _steps(n_train, batch_size)
    plan.steps_per_epoch = steps
    low, high = EPOCH_BOUNDS[effort]
    if cfg.epochs is None:
        epochs = planned_epochs(effort, n_train, batch_size, macs * n_train)
        plan.choose(
            "epochs",
            epochs,
            f"{effort} effort: {WORK_PER_FOLD[effort]:.1e} MACs x samples per fold at "
            f"{macs / 1e6:.1f} M MACs x {n_train} items an epoch, within {low}-{high} "
            f"epochs and >= {STEP_FLOOR} steps ({steps} steps/epoch)",
        )
    else:
        epochs = cfg.epochs
    if not warmup_given and not plan.plain:
        warm = max(1, round(0.1 * epochs))
        plan.choose("warmup_epochs", warm, "recipe: linear warm-up over the first 10 % of epochs")
    if not cfg.patience:
        _choose_stopping(plan, cfg, effort, epochs, steps)


def _choose_stopping(plan: AutoPlan, cfg: Any, effort: str, epochs: int, steps: int) -> None:
    """Patience on the validation loss, never before the epoch floor: on the example's 3D
    half the loss sits at ln 2 for the first ~70-110 steps, where patience alone would stop."""
    patience = max(PATIENCE_MIN, round(PATIENCE_SHARE * epochs))
    plan.choose(
        "patience",
        patience,
        f"stop a fold when the validation loss has not improved for {PATIENCE_SHARE:.0%} of "
        f"its epochs (at least {PATIENCE_MIN})",
    )
    if cfg.min_epochs == 1:
        floor = min(epochs, max(EPOCH_BOUNDS[effort][0], math.ceil(STEP_FLOOR / steps)))
        plan.choose("min_epochs", floor, f"no stopping before the floor ({STEP_FLOOR} steps)")
