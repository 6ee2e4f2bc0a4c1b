"""TrainConfig: every hyper-parameter of a run, typed and defaulted.

The config is saved as ``config.json`` in each run folder and travels to the worker process as a
plain dict, so it holds only JSON-friendly values. ``validate()`` turns bad combinations into a
``MedviewError`` with a one-line reason (the CLI prints it without a traceback).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medview.core.errors import MedviewError
from medview.core.run_store import new_run_id_problem
from training.recipe import model_specs

# Model facts live in one table, training/recipe/model_specs.py; these names are derived from it.
MODELS_3D = model_specs.names("3d")
MODELS_2D = model_specs.names("2d")
MODELS = MODELS_3D + MODELS_2D
DEFAULT_MODEL = {"3d": "medicalnet_resnet10", "2d": "resnet18"}
# Input sizes when --size is not given: ImageNet models expect ~224 px (Inception v3 299);
# the 3D ResNets are trained at modest cubes because a 3D batch grows with the cube of the size.
DEFAULT_SIZE = {name: s.default_size for name, s in model_specs.SPECS.items()}
DEFAULT_SIZE_2D_IMAGENET = 224
AUGMENT_PRESETS = ("none", "light", "strong")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "step", "cosine", "onecycle")
THRESHOLDS = ("youden", "0.5")
EARLY_STOPPING = ("auc", "loss")  # validation AUC (ties: lower loss) or validation loss
# none: each item once per epoch; oversample: classes drawn equally often, with replacement,
# epoch of the training set's size; undersample: every class cut to the smallest one's count,
# a different subset of the larger classes each epoch.
SAMPLERS = ("none", "oversample", "undersample")
# Keys of older config.json files, and what they became (read by from_dict).
LEGACY_KEYS = {
    "freeze_encoder": ("train_layers", "head"),  # when true; false was the default
    "balanced_sampler": ("sampler", "oversample"),
    "quick": ("effort", "quick"),  # the quick check became an effort (issue 25)
}
EFFORTS = ("quick", "standard", "thorough")  # Auto's compute budget (training/recipe/auto.py)
# What the images show, for Auto's augmentation: microscopy has no up (orientation-free
# flips); anatomy has (left-right flips only). auto: really colour 2D -> microscopy.
PROFILES = ("auto", "microscopy", "anatomy")
# What a setting left at None becomes when Auto does not choose it either (the manual
# defaults before Auto existed; bench/defaults.py runs them as "old defaults").
MANUAL_DEFAULTS: dict[str, Any] = {
    "epochs": 30,
    "batch_size": 8,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "optimizer": "adam",
    "scheduler": "none",
    "augment": "none",  # --no-auto is a protocol: nothing chosen for you, not even flips
    "warmup_epochs": 0,
    "label_smoothing": 0.0,
    "ema": False,
    "class_weights": False,
    "tta": False,
    "early_stopping": "auc",
}
DEVICES = ("auto", "cpu", "cuda", "mps")
DOWNLOAD = "download"  # --pretrained download: the library's own weights (training.engine.weights)
DATA_MODES = ("auto", "memory", "stream")
SLICE_AGGREGATES = ("mean", "max")


class ConfigError(MedviewError):
    """A run configuration that cannot work (unknown model, folds < 2, ...)."""


_MAX_INT = 2**31 - 1  # beyond any count, size, seed or rate a run can use


@dataclass
class TrainConfig:
    project: str = ""
    model: str | None = None  # None: Auto's choice (auto=False: the kind's old default)
    kind: str | None = None  # "2d" | "3d": which items of a mixed project (None: the majority)
    folds: int = 5
    fold: int | None = None  # run only this fold (1-based); merge the fold runs afterwards
    holdout: bool = False  # one train/val/test split instead of k-fold
    holdout_fractions: tuple[float, float] = (0.15, 0.15)  # (test, val of the rest): ~72/13/15
    # None below: Auto chooses (training/recipe/auto.py, docs/auto.md); a value given always wins.
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    optimizer: str | None = None
    scheduler: str | None = None
    warmup_epochs: int | None = None  # linear warm-up before cosine (per optimizer step)
    label_smoothing: float | None = None  # multiclass cross-entropy only
    ema: bool | None = None  # evaluate/keep an exponential moving average of the weights
    tta: bool | None = None  # average predictions over the item and its left-right flip
    auto: bool = True  # let Auto fill the settings left at None (False: MANUAL_DEFAULTS)
    # Auto's compute budget: an amount of training work (MACs x samples), never a wall clock;
    # "quick" is the quick check (about a minute on a laptop CPU for the example)
    effort: str = "standard"
    profile: str = "auto"  # auto | microscopy | anatomy (PROFILES): the user's correction
    threshold: str = "youden"  # binary decision threshold chosen on out-of-fold predictions
    target_recall: float | None = None  # instead of Youden: lowest threshold with this recall
    calibrate: bool = True  # temperature scaling fitted on out-of-fold predictions
    step_size: int = 10  # StepLR: multiply the learning rate by gamma every step_size epochs
    gamma: float = 0.1
    momentum: float = 0.9  # SGD only
    size: int | None = None  # None: DEFAULT_SIZE for the model
    ct_window: tuple[float, float] | None = None  # (level, width) in HU, else z-score per item
    device: str = "auto"
    amp: bool = True  # used only on CUDA
    pretrained: str | None = None  # a file, or "download" for the library's own weights
    # head | last:N | all: what trains (docs/fine_tuning.md); --freeze-encoder is "head"
    train_layers: str = "all"
    seed: int = 42
    augment: str | None = None
    # None: Auto weights the loss of an imbalanced set (off without Auto); False stays off
    class_weights: bool | None = None
    sampler: str = "none"  # none | oversample | undersample: how an epoch draws the classes
    patience: int = 0  # 0: no early stopping
    precise_bn: bool = True  # recompute BatchNorm statistics before each evaluation
    min_epochs: int = 1
    early_stopping: str | None = None  # "better" for patience and the kept epoch (None: Auto)
    cache: bool = True
    # Where the items live while training: "memory" (float32 tensors in RAM), "stream" (a
    # memory-mapped disk cache read by a prefetching loader), "auto": memory when it fits.
    data: str = "auto"
    run_id: str | None = None
    threads: int | None = None  # torch CPU threads; None: torch's own default
    predict_unlabelled: bool = True  # the ensemble predicts unlabelled items at the end
    near_duplicate_groups: bool = False  # near-duplicate clusters (pHash) share one fold
    # Slice mode (training/recipe/slices.py, docs/slices.md): a 2D model on the slices of volumes.
    slices: str | None = None  # None (off) | "all" | "middle:N" | "key"
    slice_aggregate: str = "mean"  # slice -> volume -> patient probabilities: mean | max
    slice_min_content: float = 0.05  # "all": drop slices with less foreground than this
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A relative weights path means "from the folder the user typed it in": stored absolute,
        # config.json then works from any folder (Run again, --config). "download" is a word.
        if isinstance(self.pretrained, str) and self.pretrained not in ("", DOWNLOAD):
            self.pretrained = str(Path(self.pretrained).expanduser().resolve())

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["holdout_fractions"] = list(self.holdout_fractions)
        data["ct_window"] = list(self.ct_window) if self.ct_window else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        data = upgrade_legacy(data)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}")
        values = dict(data)
        if values.get("holdout_fractions") is not None:
            values["holdout_fractions"] = tuple(values["holdout_fractions"])
        if values.get("ct_window") is not None:
            values["ct_window"] = tuple(values["ct_window"])
        return cls(**values)

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        # The checks by topic, in this order: the first problem found is the one reported.
        self._validate_types()
        if self.run_id is not None and (problem := new_run_id_problem(self.run_id)):
            raise ConfigError(f"--run-id {self.run_id!r}: {problem}")
        self._validate_model_kind()
        self._validate_folds()
        self._validate_numbers()
        self._validate_choices()
        self._validate_schedule()
        if self.patience < 0 or self.min_epochs < 1:
            raise ConfigError("--patience must be >= 0 and --min-epochs >= 1")
        self._validate_fractions()
        self._validate_model_options()
        self._validate_slices()

    def _validate_types(self) -> None:
        # A config.json may be crafted: "folds": 1e9 or "seed": NaN passed every range check
        # and failed deep in the engine ("internal error: TypeError"). The flags' types, here
        # (numpy numbers pass: Auto computes some values with numpy).
        for f in dataclasses.fields(self):
            value: Any = getattr(self, f.name)
            want = str(f.type).split(" | ")[0]
            flag = "--" + f.name.replace("_", "-")
            if value is None or want not in ("int", "float"):
                continue
            number = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if want == "int" and not (
                number and isinstance(value, numbers.Integral) and abs(int(value)) <= _MAX_INT
            ):
                raise ConfigError(f"{flag} must be a whole number (got {value!r})")
            if want == "float" and not (number and math.isfinite(value) and abs(value) <= _MAX_INT):
                raise ConfigError(f"{flag} must be a finite number (got {value!r})")

    def _validate_model_kind(self) -> None:
        if self.model is not None and self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r} (choose from {', '.join(MODELS)})")
        if self.kind not in (None, "2d", "3d"):
            raise ConfigError(f"kind must be 2d or 3d (got {self.kind!r})")
        if self.kind and self.model and self.slices is None and model_kind(self.model) != self.kind:
            raise ConfigError(
                f"{self.model} trains on {model_kind(self.model)} items, not {self.kind}"
            )

    def _validate_folds(self) -> None:
        if not self.holdout and self.folds < 2:
            raise ConfigError(f"--folds must be at least 2 (got {self.folds}); use --holdout")
        if self.fold is not None:
            if self.holdout:
                raise ConfigError("--fold selects one fold of a k-fold run, not of --holdout")
            if not 1 <= self.fold <= self.folds:
                raise ConfigError(f"--fold must be between 1 and {self.folds}, got {self.fold}")

    def _validate_numbers(self) -> None:
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1 (got {self.epochs})")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1 (got {self.batch_size})")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"--lr must be positive (got {self.lr})")
        if self.label_smoothing is not None and not 0 <= self.label_smoothing < 0.5:
            raise ConfigError(f"--label-smoothing must be in [0, 0.5) (got {self.label_smoothing})")
        if self.target_recall is not None and not 0 < self.target_recall <= 1:
            raise ConfigError(f"--target-recall must be in (0, 1] (got {self.target_recall})")
        if self.warmup_epochs is not None and self.warmup_epochs < 0:
            raise ConfigError(f"--warmup-epochs must be >= 0 (got {self.warmup_epochs})")
        if self.size is not None and not 8 <= self.size <= 1024:
            raise ConfigError(f"--size must be between 8 and 1024 (got {self.size})")

    def _validate_choices(self) -> None:
        for name, value, allowed in (
            ("--optimizer", self.optimizer, OPTIMIZERS),
            ("--scheduler", self.scheduler, SCHEDULERS),
            ("--device", self.device, DEVICES),
            ("--threshold", self.threshold, THRESHOLDS),
            ("--early-stopping", self.early_stopping, EARLY_STOPPING),
            ("--data", self.data, DATA_MODES),
            ("--effort", self.effort, EFFORTS),
            ("--profile", self.profile, PROFILES),
        ):
            if value is not None and value not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
        if self.augment is not None:  # a preset or named parameters (training/recipe/augment.py)
            from training.recipe.augment import AugmentError, parse_augment

            try:
                parse_augment(self.augment)
            except AugmentError as exc:
                raise ConfigError(str(exc)) from exc

    def _validate_schedule(self) -> None:
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"--momentum must be in [0, 1) (got {self.momentum})")
        if not 0 < self.gamma <= 1 or self.step_size < 1:
            raise ConfigError(
                f"--gamma must be in (0, 1] and --step-size at least 1 "
                f"(got {self.gamma}, {self.step_size})"
            )

    def _validate_fractions(self) -> None:
        test, val = self.holdout_fractions
        if not (0 <= test < 0.9 and 0 < val < 0.9):
            raise ConfigError(
                f"--holdout-fractions TEST VAL: TEST must be in [0, 0.9) and VAL in (0, 0.9) "
                f"(got {test} {val})"
            )

    def _validate_model_options(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ConfigError(
                f"--sampler must be one of {', '.join(SAMPLERS)} (got {self.sampler!r})"
            )
        try:
            model_specs.parse_train_layers(self.train_layers)
        except model_specs.TrainLayersError as exc:
            raise ConfigError(str(exc)) from None
        found = model_specs.SPECS.get(self.model or "")
        if found and self.size is not None and self.size < found.min_size:
            raise ConfigError(
                f"{found.name} needs --size of at least {found.min_size} (got {self.size})"
            )

    def _validate_slices(self) -> None:
        if self.slices is not None:
            parse_slices(self.slices)
            if self.model is not None and model_kind(self.model) != "2d":
                raise ConfigError(f"--slices trains a 2D model; {self.model} is a 3D model")
            if self.kind == "2d":
                raise ConfigError("--slices trains on the slices of 3D items, not on --kind 2d")
        if self.slice_aggregate not in SLICE_AGGREGATES:
            raise ConfigError(
                f"--slice-aggregate must be one of {', '.join(SLICE_AGGREGATES)} "
                f"(got {self.slice_aggregate!r})"
            )
        if not 0 <= self.slice_min_content < 1:
            raise ConfigError(
                f"--slice-min-content must be in [0, 1) (got {self.slice_min_content})"
            )

    @property
    def item_kind(self) -> str | None:
        """The kind of item the run reads: 3D in slice mode, else the model's (or --kind)."""
        if self.slices is not None:
            return "3d"
        return model_kind(self.model) if self.model else self.kind

    def with_defaults(self) -> TrainConfig:
        """A copy with every setting still at None set to MANUAL_DEFAULTS (Auto, when on,
        has already filled what it chooses; this covers the rest and auto=False)."""
        values = {k: v for k, v in MANUAL_DEFAULTS.items() if getattr(self, k) is None}
        return dataclasses.replace(self, **values)

    def resolved_model(self, kind: str) -> str:
        """``kind`` is the item kind; slice mode trains a 2D model on 3D items."""
        return self.model or DEFAULT_MODEL["2d" if self.slices is not None else kind]

    def resolved_size(self, model: str) -> int:
        if self.size is not None:
            return self.size
        return DEFAULT_SIZE.get(model, DEFAULT_SIZE_2D_IMAGENET)


def parse_slices(text: str) -> tuple[str, int]:
    """``--slices``: ("all", 0), ("middle", N) or ("key", 1); a ConfigError otherwise."""
    value = text.strip().lower()
    if value in ("all", "key"):
        return value, 1 if value == "key" else 0
    mode, _, count = value.partition(":")
    if mode == "middle" and count.isdigit() and int(count) >= 1:
        return "middle", int(count)
    raise ConfigError(f"--slices must be all, middle:N (N >= 1) or key (got {text!r})")


def slices_in_words(text: str) -> str:
    """``--slices`` as the window says it: "every slice with content", "the middle 8 slices",
    "the key slice" (the command-line syntax is for the command line)."""
    mode, count = parse_slices(text)
    if mode == "middle":
        return f"the middle {count} slice{'s' if count > 1 else ''}"
    return "the key slice" if mode == "key" else "every slice with content"


def upgrade_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """An older config's ``freeze_encoder`` / ``balanced_sampler`` as today's fields (a value
    given in today's field wins)."""
    out = dict(data)
    for old, (new, value) in LEGACY_KEYS.items():
        if bool(out.pop(old, False)) and new not in data:
            out[new] = value
    return out


def model_kind(model: str) -> str:
    """``"3d"`` or ``"2d"``: the item kind a model consumes."""
    found = model_specs.SPECS.get(model)
    return found.kind if found else "2d"


def shared_settings(cfg: TrainConfig) -> TrainConfig:
    """The one budget every run of a study (or trial of a search) shares: what the user set,
    and the manual defaults for the rest. Auto is off because it would choose epochs, batch
    size and learning rate per model, and the runs would no longer differ only in the model."""
    return dataclasses.replace(cfg, auto=False).with_defaults()
