"""The flags of `medview train` (also `medview study` and `medview tune`, and
``python -m training``), one function per argument group, and the ``TrainConfig`` they make.

A flag's ``dest`` is the name of its ``TrainConfig`` field (training/recipe/config.py): that is how
``config_from_args`` finds it. To add a training option: the field in ``TrainConfig``, its flag
in the group it belongs to here, and its row in the window's form (medview/ui/training_form*).
No torch here: ``medview --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from training.recipe.config import (
    AUGMENT_PRESETS,
    DATA_MODES,
    DEVICES,
    EARLY_STOPPING,
    EFFORTS,
    MODELS,
    OPTIMIZERS,
    PROFILES,
    SAMPLERS,
    SCHEDULERS,
    SLICE_AGGREGATES,
    TrainConfig,
)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `medview train` (docs/DESIGN.md section 3 plus the engine's options)."""
    group = parser.add_argument_group("model and data")
    _model_arguments(group)
    _data_arguments(group)
    _split_arguments(parser.add_argument_group("splits"))
    _slice_arguments(parser.add_argument_group("slice mode: a 2D model on the slices of volumes"))
    group = parser.add_argument_group("optimisation")
    _optimiser_arguments(group)
    _balance_and_stopping_arguments(group)
    _threshold_arguments(parser.add_argument_group("thresholds and probabilities"))
    _run_arguments(parser.add_argument_group("run"))
    # Remember the defaults, so --config can tell a flag the user typed from a default.
    parser.set_defaults(
        train_defaults={a.dest: a.default for a in parser._actions if a.dest != "help"}
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's settings from the parsed flags: every ``TrainConfig`` field whose flag the
    parser has (a command without some flags keeps those fields' defaults)."""
    given: dict[str, Any] = vars(args)
    names = (f.name for f in dataclasses.fields(TrainConfig))
    values = {name: given[name] for name in names if name in given}
    values["project"] = str(args.project)
    values["holdout_fractions"] = tuple(args.holdout_fractions)
    values["ct_window"] = tuple(args.ct_window) if args.ct_window else None
    return TrainConfig(**values)


def _model_arguments(g: argparse._ArgumentGroup) -> None:
    """The model, its input and its starting weights."""
    g.add_argument(
        "--model",
        choices=MODELS,
        metavar="MODEL",
        help=f"one of: {', '.join(MODELS)} (default: Auto chooses from the data, see "
        "docs/auto.md; with --no-auto medicalnet_resnet10 for volumes, resnet18 for images)",
    )
    g.add_argument(
        "--kind",
        choices=("2d", "3d"),
        help="which labelled items of a project with both 2D images and 3D volumes "
        "(default: the kind most items are; a --model implies it)",
    )
    g.add_argument(
        "--size", type=_positive_int, help="input size (cube/square); default: Auto / by model"
    )
    g.add_argument(
        "--pretrained", metavar="PATH", help="weight file (.pth/.pt/.safetensors), or 'download'"
    )
    _fine_tuning_arguments(g)
    g.add_argument(
        "--augment",
        metavar="PRESET|NAME=V,..",
        help=f"a preset ({', '.join(AUGMENT_PRESETS)}) or parameters by name, e.g. "
        "'flip_x=0.9,rotate=15,brightness=0.2' or 'light,noise=0.05' (docs/augmentation.md); "
        "default: Auto (by modality)",
    )


def _train_layers(text: str) -> str:
    from training.recipe.model_specs import TrainLayersError, parse_train_layers

    try:
        parse_train_layers(text)
    except TrainLayersError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def _fine_tuning_arguments(g: argparse._ArgumentGroup) -> None:
    """--train-layers and its older spelling --freeze-encoder (docs/fine_tuning.md)."""
    g.add_argument(
        "--train-layers",
        type=_train_layers,
        default="all",
        metavar="head|last:N|all",
        help="what trains: the new head only, the head and the last N blocks of the model "
        "(a block per family: residual block, dense block, conv layer, inverted residual, "
        "Inception module...; docs/fine_tuning.md), or everything (default); frozen blocks "
        "keep their BatchNorm statistics",
    )
    g.add_argument(
        "--freeze-encoder",
        dest="train_layers",
        action="store_const",
        const="head",
        default="all",
        help="train only the new head (the same as --train-layers head)",
    )


def _data_arguments(g: argparse._ArgumentGroup) -> None:
    """Preprocessing and how the items are held while training."""
    g.add_argument(
        "--ct-window",
        nargs=2,
        type=float,
        metavar=("LEVEL", "WIDTH"),
        help="CT window in HU instead of z-score",
    )
    g.add_argument(
        "--cache",
        dest="cache",
        action="store_true",
        default=True,
        help="reuse preprocessed tensors (default)",
    )
    g.add_argument("--no-cache", dest="cache", action="store_false")
    g.add_argument(
        "--data",
        choices=DATA_MODES,
        default="auto",
        help="memory: items as float32 tensors in RAM; stream: a memory-mapped disk cache read "
        "by a prefetching loader (bounded RAM); auto (default): memory when it fits "
        "MEDVIEW_TRAIN_MEMORY_MB",
    )


def _split_arguments(g: argparse._ArgumentGroup) -> None:
    """Cross-validation or hold-out, and which items stay together."""
    g.add_argument("--folds", type=int, default=5, help="k of k-fold cross-validation (default 5)")
    g.add_argument(
        "--fold", type=_positive_int, help="run only this fold (1-based); combine with 'merge'"
    )
    g.add_argument(
        "--holdout", action="store_true", help="one stratified train/val/test split (~72/13/15)"
    )
    g.add_argument(
        "--holdout-fractions",
        nargs=2,
        type=float,
        metavar=("TEST", "VAL"),
        default=(0.15, 0.15),
        help="with --holdout: TEST is the share of all labelled items set aside as test "
        "(unless items are marked test), VAL the share of the rest used for validation; "
        "train = (1 - TEST) x (1 - VAL). Default 0.15 0.15: train 72%%, val 13%%, test 15%%; "
        "0.15 0.12 gives 75/10/15",
    )
    g.add_argument(
        "--near-duplicate-groups",
        action="store_true",
        help="keep near-duplicate images (perceptual hash) in one fold, like one patient",
    )


def _slice_arguments(g: argparse._ArgumentGroup) -> None:
    """Slice mode (docs/slices.md): a 2D model on the slices of the 3D volumes."""
    g.add_argument(
        "--slices",
        metavar="all|middle:N|key",
        help="train a 2D model on slices of the 3D items: every slice with content, the N "
        "central slices, or each volume's key slice (marked with K in the viewer); results per "
        "slice, volume and patient",
    )
    g.add_argument(
        "--slice-aggregate",
        choices=SLICE_AGGREGATES,
        default="mean",
        help="a volume's (and a patient's) probability from its slices': mean (default) or "
        "max (any slice shows it)",
    )
    g.add_argument(
        "--slice-min-content",
        type=float,
        default=0.05,
        metavar="F",
        help="--slices all: keep slices with at least this fraction of foreground pixels "
        "(default 0.05; 0 keeps every slice)",
    )


def _auto_arguments(g: argparse._ArgumentGroup) -> None:
    """Auto on or off, and its effort."""
    g.add_argument(
        "--no-auto",
        dest="auto",
        action="store_false",
        help="no Auto choices: unset settings take the manual defaults (30 epochs, batch 8, "
        "Adam 1e-3, no schedule, no augmentation unless set)",
    )
    g.add_argument(
        "--effort",
        choices=EFFORTS,
        default="standard",
        help="Auto's compute budget, an amount of training work (the same plan on a busy "
        "machine, only slower): quick (a check of about a minute on the example), standard "
        "(default; ~15 min for 1,000 images on a 2-core CPU), thorough (4x standard)",
    )
    g.add_argument(
        "--quick",
        dest="effort",
        action="store_const",
        const="quick",
        help="the same as --effort quick",
    )
    g.add_argument(
        "--profile",
        choices=PROFILES,
        default="auto",
        help="what the images show, for Auto's augmentation: microscopy (no up: flips on "
        "every axis) or anatomy (left-right flips only); auto (default): really colour 2D "
        "images (not grey stored as RGB) are microscopy",
    )


def _optimiser_arguments(g: argparse._ArgumentGroup) -> None:
    """Auto, the budget, the optimiser and its schedule."""
    _auto_arguments(g)
    g.add_argument("--epochs", type=_positive_int, help="default: Auto (from steps per epoch)")
    g.add_argument(
        "--batch-size",
        type=_positive_int,
        help="default: Auto (CPU: throughput probe; CUDA: the largest that fits)",
    )
    g.add_argument("--lr", type=float, help="peak learning rate (default: Auto)")
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--optimizer", choices=OPTIMIZERS)
    g.add_argument("--scheduler", choices=SCHEDULERS)
    g.add_argument("--warmup-epochs", type=int, help="linear warm-up before cosine")
    g.add_argument("--label-smoothing", type=float, help="multiclass cross-entropy smoothing")
    g.add_argument("--ema", dest="ema", action="store_true", default=None, help="weight EMA")
    g.add_argument("--no-ema", dest="ema", action="store_false")
    g.add_argument(
        "--tta", dest="tta", action="store_true", default=None, help="flip test-time augmentation"
    )
    g.add_argument("--no-tta", dest="tta", action="store_false")
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    g.add_argument("--step-size", type=_positive_int, default=10, help="StepLR period (epochs)")
    g.add_argument(
        "--gamma", type=float, default=0.1, help="StepLR factor every --step-size epochs"
    )


def _balance_and_stopping_arguments(g: argparse._ArgumentGroup) -> None:
    """Class balance, early stopping and the evaluation before it."""
    weights = "weight the loss by class balance (default Auto: on for an imbalanced set)"
    g.add_argument("--class-weights", action="store_true", default=None, help=weights)
    g.add_argument("--no-class-weights", dest="class_weights", action="store_false")
    g.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="none",
        help="how each epoch draws the classes: none (every item once), oversample (classes "
        "equally often, with replacement), undersample (every class cut to the smallest "
        "one's size, another subset each epoch); separate from --class-weights",
    )
    g.add_argument(
        "--balanced-sampler",
        dest="sampler",
        action="store_const",
        const="oversample",
        default="none",
        help="the same as --sampler oversample",
    )
    g.add_argument("--patience", type=int, default=0, help="early stopping patience (0: off)")
    g.add_argument(
        "--min-epochs", type=_positive_int, default=1, help="no early stop before this epoch"
    )
    g.add_argument(
        "--early-stopping",
        choices=EARLY_STOPPING,
        default=None,
        help="what improves for --patience and the kept epoch: validation AUC (ties: lower "
        "loss) or validation loss (ties: higher AUC); default Auto: loss (--no-auto: auc)",
    )
    g.add_argument(
        "--no-precise-bn",
        dest="precise_bn",
        action="store_false",
        help="skip recomputing BatchNorm statistics before each evaluation",
    )


def _threshold_arguments(g: argparse._ArgumentGroup) -> None:
    """The decision threshold and the probabilities' calibration."""
    g.add_argument(
        "--threshold",
        choices=("youden", "0.5"),
        default="youden",
        help="binary decision threshold, chosen on the out-of-fold predictions (default youden)",
    )
    g.add_argument(
        "--target-recall",
        type=float,
        metavar="R",
        help="binary: the highest threshold whose out-of-fold sensitivity is at least R",
    )
    g.add_argument(
        "--no-calibrate",
        dest="calibrate",
        action="store_false",
        help="no temperature scaling of the probabilities",
    )


def _run_arguments(g: argparse._ArgumentGroup) -> None:
    """Device, seed, naming, output and re-running a config."""
    g.add_argument("--device", choices=DEVICES, default="auto")
    g.add_argument(
        "--no-amp", dest="amp", action="store_false", help="disable mixed precision on CUDA"
    )
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--threads", type=_positive_int, help="CPU threads for torch")
    g.add_argument("--run-id", help="name of the run folder (default: time + model)")
    g.add_argument(
        "--no-predict",
        dest="predict_unlabelled",
        action="store_false",
        help="do not predict unlabelled items at the end",
    )
    g.add_argument(
        "--json-progress", action="store_true", help="one JSON object per event on stdout"
    )
    g.add_argument(
        "--config",
        metavar="FILE",
        help="settings of an earlier run (its runs/<id>/config.json) to run again; "
        "flags given here override them",
    )
    g.add_argument(
        "--allow-download",
        action="store_true",
        help="let a --config file download pretrained weights from the internet "
        '("pretrained": "download"); without it such a file is refused',
    )
