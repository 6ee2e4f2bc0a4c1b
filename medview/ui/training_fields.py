"""The training form as data: one entry per TrainConfig field (widget kind, label, tooltip, group).

Adding a training option to the window is one ``Field`` here; ``medview/ui/form_widgets.py``
builds the widget and ``TrainingForm`` lays out the groups. ``tests/ui/test_training_fields.py``
walks ``dataclasses.fields(TrainConfig)`` and fails on a field with no entry (and not in
``NOT_IN_FORM``), so a new engine option cannot be left out of the window by accident.

Kinds (what the widget holds; "optional" ones show ``none_text`` for None):
``choice`` a drop-down of (text, value) pairs; ``bool`` a check box; ``int`` a spin box
(optional: one step below ``lo`` stands for None; ``text`` is its unit suffix); ``float`` a
text box (scientific notation, empty = None); ``number`` a bounded decimal spin box; ``pair``
two decimal spin boxes (a tuple); ``optional_pair`` two text boxes (both empty = None);
``text`` a text box (empty = None); ``path`` a text box with a file picker; ``layers`` the
--train-layers choice (all layers / the new head only / the head and the last N blocks, N
from ``lo`` to ``hi``); ``slices`` slice mode's choice in words (every slice with content /
the N middle slices / the key slice), N from ``lo`` to ``hi``.
This module imports no Qt: the tests read the table without a window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from training.recipe.config import (
    AUGMENT_PRESETS,
    DEVICES,
    MODELS_2D,
    MODELS_3D,
    OPTIMIZERS,
    SCHEDULERS,
    THRESHOLDS,
)

AUTO_TEXT = "Auto"
AUTO_MODEL = "Auto (chosen from the data)"
TOP = "top"  # shown above the Advanced groups, always visible
# The Advanced section's groups, in the order shown.
GROUPS = (
    "Model",
    "Data & splits",
    "Optimisation",
    "Schedule & early stopping",
    "Regularisation",
    "Evaluation",
    "Run",
)

# TrainConfig fields that are not user options of a window run, each with the reason.
NOT_IN_FORM = {
    "project": "the open project: the Training panel sets it",
    "fold": "one fold of a k-fold run for cluster jobs, combined by `medview merge` "
    "(the window always runs every fold)",
    "extra": "bookkeeping of studies (study_id), written by `medview study`, not a setting",
}


@dataclass(frozen=True)
class Field:
    name: str  # the TrainConfig field
    kind: str  # see the module docstring
    label: str
    tip: str
    group: str
    flag: str = ""  # the `medview train` flag (default: --name-with-dashes)
    choices: tuple[tuple[str, Any], ...] = ()  # choice: (shown text, value)
    editable: bool = False  # choice: a value typed in is taken too (augment's named parameters)
    text: str = ""  # bool: the check box's text; pair: "first|second" labels; int: a unit
    lo: float = 0  # int / number / pair: the smallest value
    hi: float = 1000
    step: float = 1
    decimals: int = 3
    none_text: str | None = None  # optional fields: what None is shown as
    special: str | None = None  # int: the text shown at ``lo`` (a value, not None)
    depends: str | None = None  # enabled only while this other field's value ...
    enabled: Callable[[Any], bool] | None = None  # ... passes this test

    @property
    def optional(self) -> bool:
        return self.none_text is not None

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def tooltip(self) -> str:
        return f"{self.tip}\n(medview train {self.cli_flag})"


def _models() -> tuple[tuple[str, Any], ...]:
    return (
        (AUTO_MODEL, None),
        *((f"3D  {m}", m) for m in MODELS_3D),
        *((f"2D  {m}", m) for m in MODELS_2D),
    )


def _auto_or(values: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    return ((AUTO_TEXT, None), *((v, v) for v in values))


_DEVICE_TEXT = {"cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple MPS"}
_AUTO_ON_OFF = ((AUTO_TEXT, None), ("on", True), ("off", False))
_M, _D, _O, _S, _R, _E, _RUN = GROUPS

FIELDS: tuple[Field, ...] = (
    # ---------------------------------------------------------------- always visible
    Field(
        "pretrained", "path", "Weights",
        "Pretrained weights: a MedicalNet .pth or a torchvision state dict (.pth, "
        ".safetensors), loaded without running any code from the file; 'download' fetches "
        "the library's own weights (a network call). Stored in config.json as an absolute "
        "path.", TOP, none_text="none (random start)",
    ),
    # ---------------------------------------------------------------- Model
    Field("model", "choice", "Model", "The network; Auto picks one from the data and the "
          "device", _M, choices=_models()),
    Field("kind", "choice", "Train on", "Which labelled items of a project with both 2D "
          "images and 3D volumes (Auto: the kind most items are; a model implies it); '2D "
          "model on slices' trains an image model on the slices of each volume, with results "
          "per slice, volume and patient (docs/slices.md)", _M,
          choices=(("Auto (majority kind)", None), ("3D volumes", "3d"),
                   ("2D model on slices of the 3D volumes", "slices"), ("2D images", "2d"))),
    Field("slices", "slices", "Slices", "Which slices of each volume: every slice with "
          "content (air and padding left out), the N central ones, or the slice marked with K "
          "in the viewer (a volume without one uses its middle slice)", _M, lo=1, hi=999,
          depends="kind", enabled=lambda kind: kind == "slices"),
    Field("slice_aggregate", "choice", "Volume result", "A volume's probability from its "
          "slices' (and a patient's from its volumes'): the mean, or the max for 'any slice "
          "shows it' tasks", _M, choices=(("mean of its slices", "mean"),
                                           ("max of its slices", "max")),
          depends="kind", enabled=lambda kind: kind == "slices"),
    Field("slice_min_content", "number", "Slice content", "Slices: all keeps a slice when "
          "at least this fraction of its pixels is brighter than the volume's background "
          "(0 keeps every slice)", _M, lo=0.0, hi=0.95, step=0.05, decimals=2,
          depends="kind", enabled=lambda kind: kind == "slices"),
    Field("train_layers", "layers", "Train layers", "What trains: every layer; only the new "
          "classification head (the encoder frozen, also --freeze-encoder); or the head and "
          "the last N blocks of the model (a block: a ResNet residual block, a DenseNet dense "
          "block, a VGG conv layer, a MobileNet inverted residual, an EfficientNet MBConv, a "
          "ConvNeXt block, an Inception module; docs/fine_tuning.md). Frozen blocks keep their "
          "BatchNorm statistics; without pretrained weights they stay random", _M,
          lo=1, hi=200),
    Field("size", "int", "Size", "Input size in pixels/voxels per side (Auto: from the "
          "data and the model)", _M, lo=8, hi=1024, step=16, none_text=AUTO_TEXT),
    Field("ct_window", "optional_pair", "CT window", "Clip CT intensities to a window "
          "(level, width in HU) instead of a z-score per item; leave empty for z-score", _M,
          text="level|width", none_text="z-score"),
    # ---------------------------------------------------------------- Data & splits
    Field("holdout", "choice", "Validation", "k-fold cross-validation, or one hold-out "
          "split (train / validation / test)", _D,
          choices=(("k-fold cross-validation", False), ("hold-out split", True))),
    Field("folds", "int", "Folds", "k of k-fold cross-validation; each class (and the "
          "patients, when items have groups) needs at least k items", _D, lo=2, hi=50,
          depends="holdout", enabled=lambda holdout: not holdout),
    Field("holdout_fractions", "pair", "Hold-out fractions", "TEST is the share of all "
          "labelled items set aside as test (unless items are marked test); VAL is the share "
          "of the rest used for validation. 0.15 / 0.15 gives train 72 %, validation 13 %, "
          "test 15 %", _D, text="test|val", lo=0.0, hi=0.89, step=0.01,
          depends="holdout", enabled=bool),
    Field("near_duplicate_groups", "bool", "Near duplicates", "Resized / re-encoded copies "
          "(perceptual hash) become split groups, like one patient", _D,
          text="one fold per near-duplicate group"),
    Field("class_weights", "choice", "Class weighting", "Weight the loss by inverse class "
          "frequency (helps a rare class without changing what is drawn; Auto: on at 3:1 "
          "imbalance or more)", _D, flag="--class-weights", choices=_AUTO_ON_OFF),
    Field("sampler", "choice", "Sampler", "How each epoch draws the training items: every "
          "item once; oversample (each class equally often, drawn with replacement); or "
          "undersample (every class cut to the smallest class's count, another subset of the "
          "larger classes each epoch). Separate from class weighting", _D,
          choices=(("every item once", "none"), ("oversample rare classes", "oversample"),
                   ("undersample large classes", "undersample"))),
    Field("cache", "bool", "Cache", "Reuse preprocessed tensors from the project's cache "
          "folder between runs", _D, flag="--no-cache", text="reuse preprocessed items"),
    Field("data", "choice", "Training data", "Where the items live while training: in "
          "memory (float32 tensors), or streamed from a memory-mapped disk cache by a "
          "prefetching loader (bounded memory, any data set size). Auto streams only when "
          "the tensors would exceed MEDVIEW_TRAIN_MEMORY_MB (default: half the RAM)", _D,
          choices=(("Auto (memory when it fits)", "auto"), ("in memory", "memory"),
                   ("streamed from disk", "stream"))),
    # ---------------------------------------------------------------- Optimisation
    Field("auto", "bool", "Auto", "Let Auto choose what is left at Auto (off: the manual "
          "defaults: 30 epochs, batch 8, Adam 1e-3, no schedule, no augmentation)", _O,
          flag="--no-auto", text="fill in what is left at Auto"),
    Field("effort", "choice", "Effort", "Auto's compute budget, an amount of training work "
          "(a busy machine gets the same plan, only later): Quick check (about a minute on "
          "the example), Standard, Thorough (four times Standard)", _O,
          choices=(("Quick check", "quick"), ("Standard", "standard"),
                   ("Thorough", "thorough"))),
    Field("epochs", "int", "Epochs", "Most epochs per fold (Auto: from the steps per "
          "epoch)", _O, lo=1, hi=1000, none_text=AUTO_TEXT),
    Field("batch_size", "int", "Batch size", "Auto: from the data and memory on the CPU "
          "(no timing), the largest that fits on a GPU", _O, lo=1, hi=1024, none_text=AUTO_TEXT),
    Field("optimizer", "choice", "Optimiser", "Adam, AdamW (decoupled weight decay) or SGD "
          "with momentum", _O, choices=_auto_or(OPTIMIZERS)),
    Field("lr", "float", "Learning rate", "Peak learning rate, e.g. 1e-4 (Auto: by model "
          "and optimiser)", _O, none_text=AUTO_TEXT),
    Field("momentum", "number", "Momentum", "SGD momentum (used by the SGD optimiser only)",
          _O, lo=0.0, hi=0.999, step=0.05, depends="optimizer", enabled=lambda o: o == "sgd"),
    Field("amp", "bool", "Mixed precision", "float16 autocast on CUDA GPUs (ignored on the "
          "CPU)", _O, flag="--no-amp", text="on CUDA"),
    # ---------------------------------------------------------------- Schedule
    Field("scheduler", "choice", "Scheduler", "Learning-rate schedule: step (StepLR: times "
          "gamma every step size epochs), cosine (with warm-up) or one-cycle", _S,
          choices=_auto_or(SCHEDULERS)),
    Field("step_size", "int", "Step size", "StepLR: multiply the learning rate by gamma "
          "every this many epochs", _S, lo=1, hi=1000, text=" epochs", depends="scheduler",
          enabled=lambda s: s == "step"),
    Field("gamma", "number", "Gamma", "StepLR: the factor applied every step size epochs",
          _S, lo=0.001, hi=1.0, step=0.05, depends="scheduler", enabled=lambda s: s == "step"),
    Field("warmup_epochs", "int", "Warm-up epochs", "Linear warm-up before the cosine "
          "schedule", _S, lo=0, hi=100, none_text=AUTO_TEXT, depends="scheduler",
          enabled=lambda s: s in (None, "cosine")),
    Field("patience", "int", "Early stopping", "Stop a fold after this many epochs without "
          "improvement of the early-stopping metric", _S, lo=0, hi=200, special="off",
          text=" epochs, no gain"),
    Field("min_epochs", "int", "Minimum epochs", "Never stop early before this epoch", _S,
          lo=1, hi=1000, depends="patience", enabled=lambda p: p > 0),
    Field("early_stopping", "choice", "Stop on", "What 'improvement' means for early "
          "stopping and for the best epoch kept: validation AUC (ties: lower loss) or "
          "validation loss (ties: higher AUC); Auto: validation loss", _S,
          choices=((AUTO_TEXT, None), ("validation AUC", "auc"), ("validation loss", "loss"))),
    # ---------------------------------------------------------------- Regularisation
    Field("augment", "choice", "Augmentation", "Random flips, rotations, intensity changes "
          "of training batches (Auto: by modality). A preset, or type parameters by name, "
          "as on the command line: flip_x=0.9,rotate=15,brightness=0.2 (docs/augmentation.md)",
          _R, choices=_auto_or(AUGMENT_PRESETS), editable=True),
    Field("profile", "choice", "Images show", "What the images show, for Auto's "
          "augmentation: microscopy has no up (flips on every axis), anatomy has (left-right "
          "flips only). Auto: really colour 2D images are microscopy; grey images stored as "
          "RGB are grey", _R, choices=(("Auto (from the pixels)", "auto"),
                                       ("microscopy", "microscopy"), ("anatomy", "anatomy"))),
    Field("weight_decay", "float", "Weight decay", "L2 penalty, e.g. 1e-4 (Auto: by "
          "optimiser; AdamW uses 1e-2 when 0)", _R, none_text=AUTO_TEXT),
    Field("label_smoothing", "float", "Label smoothing", "Multiclass cross-entropy "
          "smoothing in [0, 0.5)", _R, none_text=AUTO_TEXT),
    Field("ema", "choice", "Weight EMA", "Evaluate and keep an exponential moving average "
          "of the weights", _R, flag="--ema", choices=_AUTO_ON_OFF),
    # ---------------------------------------------------------------- Evaluation
    Field("threshold", "choice", "Threshold", "Binary decision threshold, chosen on the "
          "out-of-fold predictions", _E,
          choices=tuple((("Youden's J" if t == "youden" else t), t) for t in THRESHOLDS)),
    Field("target_recall", "float", "Target recall", "Binary: instead of Youden, the "
          "highest threshold whose out-of-fold sensitivity is at least this (0-1]", _E,
          none_text="off"),
    Field("calibrate", "bool", "Calibration", "Temperature scaling of the probabilities, "
          "fitted on out-of-fold predictions", _E, flag="--no-calibrate",
          text="temperature scaling"),
    Field("tta", "choice", "Test-time flips", "Average each prediction over the item and "
          "its left-right flip", _E, flag="--tta", choices=_AUTO_ON_OFF),
    Field("precise_bn", "bool", "Precise BatchNorm", "Recompute BatchNorm statistics on "
          "training batches before each evaluation", _E, flag="--no-precise-bn",
          text="recompute before evaluating"),
    Field("predict_unlabelled", "bool", "Predict unlabelled", "At the end, the fold "
          "ensemble predicts the project's unlabelled items", _E, flag="--no-predict",
          text="at the end of the run"),
    # ---------------------------------------------------------------- Run
    Field("device", "choice", "Device", "Where to train (auto: a GPU when one is found)",
          _RUN, choices=tuple((_DEVICE_TEXT.get(d, d), d) for d in DEVICES)),
    Field("seed", "int", "Seed", "Random seed of the folds, the initialisation and the "
          "batches", _RUN, lo=0, hi=2**31 - 1),
    Field("threads", "int", "CPU threads", "torch CPU threads (Auto: torch's default)",
          _RUN, lo=1, hi=256, none_text=AUTO_TEXT),
    Field("run_id", "text", "Run name", "Name of the run folder (empty: time + model); "
          "must not exist yet", _RUN, none_text="automatic (time + model)"),
)  # fmt: skip

BY_NAME = {f.name: f for f in FIELDS}
assert len(BY_NAME) == len(FIELDS), "a TrainConfig field listed twice"
assert not set(BY_NAME) & set(NOT_IN_FORM)
