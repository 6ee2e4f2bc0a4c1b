"""The training sub-commands for medview/cli.py: train, runs, predict, export, apply, merge.

This module imports no torch at module level (``medview --help`` must stay fast); each
``cmd_*`` imports the engine when it runs. ``args.project`` is the project path. Return codes
follow docs/DESIGN.md: 0 success, 1 failure (a ``MedviewError`` for user errors, printed as one line
by the CLI), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from typing import Any

from medview.core.errors import MedviewError


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `medview train` (docs/DESIGN.md section 3 plus the engine's options)."""
    from training.config import (
        AUGMENT_PRESETS,
        DATA_MODES,
        DEVICES,
        EARLY_STOPPING,
        MODELS,
        OPTIMIZERS,
        SCHEDULERS,
    )

    g = parser.add_argument_group("model and data")
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
    g.add_argument("--freeze-encoder", action="store_true", help="train only the new head")
    g.add_argument("--augment", choices=AUGMENT_PRESETS, help="default: Auto (by modality)")
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
    s = parser.add_argument_group("splits")
    s.add_argument("--folds", type=int, default=5, help="k of k-fold cross-validation (default 5)")
    s.add_argument(
        "--fold", type=_positive_int, help="run only this fold (1-based); combine with 'merge'"
    )
    s.add_argument(
        "--holdout", action="store_true", help="one stratified train/val/test split (~72/13/15)"
    )
    s.add_argument(
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
    s.add_argument(
        "--near-duplicate-groups",
        action="store_true",
        help="keep near-duplicate images (perceptual hash) in one fold, like one patient",
    )
    t = parser.add_argument_group("optimisation")
    t.add_argument(
        "--no-auto",
        dest="auto",
        action="store_false",
        help="no Auto choices: unset settings take the manual defaults (30 epochs, batch 8, "
        "Adam 1e-3, no schedule, light augmentation)",
    )
    t.add_argument(
        "--quick", action="store_true", help="Auto's quick check: a short run (about a minute)"
    )
    t.add_argument("--epochs", type=_positive_int, help="default: Auto (from steps per epoch)")
    t.add_argument(
        "--batch-size",
        type=_positive_int,
        help="default: Auto (CPU: throughput probe; CUDA: the largest that fits)",
    )
    t.add_argument("--lr", type=float, help="peak learning rate (default: Auto)")
    t.add_argument("--weight-decay", type=float)
    t.add_argument("--optimizer", choices=OPTIMIZERS)
    t.add_argument("--scheduler", choices=SCHEDULERS)
    t.add_argument("--warmup-epochs", type=int, help="linear warm-up before cosine")
    t.add_argument("--label-smoothing", type=float, help="multiclass cross-entropy smoothing")
    t.add_argument("--ema", dest="ema", action="store_true", default=None, help="weight EMA")
    t.add_argument("--no-ema", dest="ema", action="store_false")
    t.add_argument(
        "--tta", dest="tta", action="store_true", default=None, help="flip test-time augmentation"
    )
    t.add_argument("--no-tta", dest="tta", action="store_false")
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    t.add_argument("--step-size", type=_positive_int, default=10, help="StepLR period (epochs)")
    t.add_argument(
        "--gamma", type=float, default=0.1, help="StepLR factor every --step-size epochs"
    )
    t.add_argument("--class-weights", action="store_true", help="weight the loss by class balance")
    t.add_argument("--balanced-sampler", action="store_true", help="draw classes equally often")
    t.add_argument("--patience", type=int, default=0, help="early stopping patience (0: off)")
    c = parser.add_argument_group("thresholds and probabilities")
    c.add_argument(
        "--threshold",
        choices=("youden", "0.5"),
        default="youden",
        help="binary decision threshold, chosen on the out-of-fold predictions (default youden)",
    )
    c.add_argument(
        "--target-recall",
        type=float,
        metavar="R",
        help="binary: the highest threshold whose out-of-fold sensitivity is at least R",
    )
    c.add_argument(
        "--no-calibrate",
        dest="calibrate",
        action="store_false",
        help="no temperature scaling of the probabilities",
    )
    t.add_argument(
        "--min-epochs", type=_positive_int, default=1, help="no early stop before this epoch"
    )
    t.add_argument(
        "--early-stopping",
        choices=EARLY_STOPPING,
        default="auc",
        help="what improves for --patience and the kept epoch: validation AUC (ties: lower "
        "loss; default) or validation loss (ties: higher AUC)",
    )
    t.add_argument(
        "--no-precise-bn",
        dest="precise_bn",
        action="store_false",
        help="skip recomputing BatchNorm statistics before each evaluation",
    )
    r = parser.add_argument_group("run")
    r.add_argument("--device", choices=DEVICES, default="auto")
    r.add_argument(
        "--no-amp", dest="amp", action="store_false", help="disable mixed precision on CUDA"
    )
    r.add_argument("--seed", type=int, default=42)
    r.add_argument("--threads", type=_positive_int, help="CPU threads for torch")
    r.add_argument("--run-id", help="name of the run folder (default: time + model)")
    r.add_argument(
        "--no-predict",
        dest="predict_unlabelled",
        action="store_false",
        help="do not predict unlabelled items at the end",
    )
    r.add_argument(
        "--json-progress", action="store_true", help="one JSON object per event on stdout"
    )
    r.add_argument(
        "--config",
        metavar="FILE",
        help="settings of an earlier run (its runs/<id>/config.json) to run again; "
        "flags given here override them",
    )
    r.add_argument(
        "--allow-download",
        action="store_true",
        help="let a --config file download pretrained weights from the internet "
        '("pretrained": "download"); without it such a file is refused',
    )
    # Remember the defaults, so --config can tell a flag the user typed from a default.
    parser.set_defaults(
        train_defaults={a.dest: a.default for a in parser._actions if a.dest != "help"}
    )


def config_from_args(args: argparse.Namespace) -> Any:
    from training.config import TrainConfig

    return TrainConfig(
        project=str(args.project),
        model=args.model,
        kind=args.kind,
        folds=args.folds,
        fold=args.fold,
        holdout=args.holdout,
        holdout_fractions=tuple(args.holdout_fractions),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        optimizer=args.optimizer,
        scheduler=args.scheduler,
        step_size=args.step_size,
        gamma=args.gamma,
        momentum=args.momentum,
        size=args.size,
        ct_window=tuple(args.ct_window) if args.ct_window else None,
        device=args.device,
        amp=args.amp,
        pretrained=args.pretrained,
        freeze_encoder=args.freeze_encoder,
        seed=args.seed,
        augment=args.augment,
        class_weights=args.class_weights,
        balanced_sampler=args.balanced_sampler,
        near_duplicate_groups=getattr(args, "near_duplicate_groups", False),
        patience=args.patience,
        min_epochs=args.min_epochs,
        early_stopping=args.early_stopping,
        cache=args.cache,
        data=args.data,
        run_id=args.run_id,
        threads=args.threads,
        predict_unlabelled=args.predict_unlabelled,
        precise_bn=args.precise_bn,
        auto=args.auto,
        quick=args.quick,
        warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing,
        ema=args.ema,
        tta=args.tta,
        threshold=args.threshold,
        target_recall=args.target_recall,
        calibrate=args.calibrate,
    )


class ProgressPrinter:
    """Turns run messages into JSON lines (stdout) or a one-line progress bar (stderr)."""

    def __init__(self, json_lines: bool, stream: Any = None) -> None:
        self.json_lines = json_lines
        self.stream = stream or (sys.stdout if json_lines else sys.stderr)
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_progress = 0.0

    def __call__(self, message: Any) -> None:
        if self.json_lines:
            if message.type == "progress" and not self._due(message.done == message.total):
                return
            self.stream.write(message.to_json() + "\n")
            self.stream.flush()
            return
        kind = message.type
        if kind == "epoch":
            width = 30
            filled = int(width * message.fraction_done)
            eta = _duration(message.eta_seconds) if message.eta_seconds is not None else "?"
            auc = f"{message.val_auc:.3f}" if message.val_auc is not None else "n/a"
            line = (
                f"[{'#' * filled}{'.' * (width - filled)}] {message.fraction_done:4.0%} "
                f"fold {message.fold} epoch {message.epoch}/{message.epochs} "
                f"loss {message.train_loss:.4f}/{message.val_loss:.4f} AUC {auc} ETA {eta}"
            )
            self._line(line, final=not self.tty)
        elif kind == "progress":
            if self._due(message.done == message.total):
                self._line(f"loading {message.done}/{message.total}", final=not self.tty)
        elif kind == "log":
            if message.level == "debug" and not os.environ.get("MEDVIEW_DEBUG"):
                return  # tracebacks: in the run's log.txt, not on a user's terminal
            self._line(
                f"{message.level}: {message.text}" if message.level != "info" else message.text,
                final=True,
            )
        elif kind == "started" and message.plan.study_id:
            plan = message.plan
            self._line(f"{plan.kind} {plan.study_id}: {', '.join(plan.models)}", final=True)
        elif kind == "started":
            plan = message.plan
            self._line(
                f"run {message.run_id}: {plan.model} on {plan.items} items, "
                f"folds {plan.folds}, {plan.epochs} epochs, "
                f"device {plan.device}",
                final=True,
            )
        elif kind == "finished":
            self._line(f"finished: {message.run_dir}", final=True)
        elif kind == "cancelled":
            self._line(
                f"cancelled (completed folds kept: {message.completed_folds or 'none'})", final=True
            )

    def _due(self, last: bool) -> bool:
        now = time.monotonic()
        if last or now - self.last_progress > 0.5:
            self.last_progress = now
            return True
        return False

    def _line(self, text: str, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def cmd_train(args: argparse.Namespace) -> int:
    """Train / cross-validate; SIGINT cancels cleanly (status cancelled, folds kept)."""
    cfg = config_from_args(args)
    if getattr(args, "config", None):
        from training.rerun import config_with_overrides

        defaults = getattr(args, "train_defaults", {})
        given = cfg.to_dict()
        overrides = {
            k: v
            for k, v in given.items()
            if k in defaults and k != "project" and _differs(v, defaults[k])
        }
        cfg = config_with_overrides(
            args.config,
            str(args.project),
            overrides,
            allow_download=getattr(args, "allow_download", False),
        )
    cfg.validate()
    from training.api import run_training

    cancel = threading.Event()
    previous = None

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.is_set():  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        cancel.set()
        sys.stderr.write("\ncancelling after this batch (Ctrl-C again to stop at once)\n")

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        outcome = run_training(cfg, ProgressPrinter(args.json_progress), cancel.is_set)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if outcome.status == "failed":
        raise MedviewError(f"training failed: {outcome.error}")
    if outcome.status == "cancelled":
        return 1
    if not args.json_progress and outcome.metrics:
        print(_summary_line(outcome.run_id, outcome.metrics))
    return 0


def _differs(value: Any, default: Any) -> bool:
    if isinstance(value, list | tuple) and isinstance(default, list | tuple):
        return list(value) != list(default)
    return value != default


def _fmt(stat: Any) -> str:
    if isinstance(stat, dict):
        if stat.get("mean") is None:
            return "n/a"
        return f"{stat['mean']:.3f}±{stat.get('std') or 0:.3f}"
    return "n/a" if stat is None else f"{stat:.3f}"


def _summary_line(run_id: str | None, metrics: dict[str, Any]) -> str:
    s = metrics.get("summary", {})
    text = f"{run_id}: AUC {_fmt(s.get('roc_auc'))}, accuracy {_fmt(s.get('accuracy'))}"
    if metrics.get("test"):
        text += f"; test (ensemble) AUC {_fmt(metrics['test'].get('roc_auc'))}"
    return text


def add_runs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def cmd_runs(args: argparse.Namespace) -> int:
    from medview.core.project import Project

    with Project.open(args.project) as project:
        runs = project.runs()
    rows = []
    for run in runs:
        s = run.metrics.get("summary", {})
        rows.append(
            {
                "id": run.id,
                "status": run.status,
                "model": run.model,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "folds": len(run.metrics.get("folds", [])),
                "roc_auc": (s.get("roc_auc") or {}).get("mean"),
                "roc_auc_std": (s.get("roc_auc") or {}).get("std"),
                "accuracy": (s.get("accuracy") or {}).get("mean"),
                "test_roc_auc": (run.metrics.get("test") or {}).get("roc_auc"),
                "message": run.message,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no runs")
        return 0
    layout = "{:40s} {:11s} {:20s} {:>5s} {:>13s} {:>6s} {:>8s}"
    print(layout.format("id", "status", "model", "folds", "AUC", "acc", "test AUC"))
    for r in rows:
        auc = f"{r['roc_auc']:.3f}±{r['roc_auc_std'] or 0:.3f}" if r["roc_auc"] is not None else "-"
        acc = f"{r['accuracy']:.3f}" if r["accuracy"] is not None else "-"
        test = f"{r['test_roc_auc']:.3f}" if r["test_roc_auc"] is not None else "-"
        print(layout.format(r["id"], r["status"], str(r["model"]), str(r["folds"]), auc, acc, test))
    return 0


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, metavar="ID", help="run id (see 'medview runs')")
    parser.add_argument("--items", choices=("unlabelled", "all"), default="unlabelled")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))


def cmd_predict(args: argparse.Namespace) -> int:
    from medview.core.project import Project
    from training.predict import predict_run

    with Project.open(args.project) as project:
        path, count, notes = predict_run(project, args.run, args.items, args.device)
    for note in notes:
        print(note, file=sys.stderr)
    print(
        f"predicted {count} item(s) with run {args.run}; probabilities stored and written to {path}"
    )
    return 0


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, metavar="ID")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write (created)")
    parser.add_argument(
        "--no-weights", dest="weights", action="store_false", help="leave out the model weights"
    )
    parser.add_argument(
        "--format",
        choices=("report", "onnx", "torchscript"),
        default="report",
        help="report: the run's results (default); onnx/torchscript: a standalone model "
        "with model.json (input shape, classes, preprocessing)",
    )
    parser.add_argument(
        "--fold", type=_positive_int, help="with --format onnx/torchscript: this fold only"
    )


def cmd_export(args: argparse.Namespace) -> int:
    from medview.core.project import Project

    if getattr(args, "format", "report") != "report":
        from training.model_export import export_model

        with Project.open(args.project) as project:
            files = export_model(project, args.run, args.out, args.format, args.fold)
        print(f"exported run {args.run} as {args.format}: {', '.join(str(f) for f in files)}")
        return 0
    from training.export import export_run

    with Project.open(args.project) as project:
        files = export_run(project, args.run, args.out, include_weights=args.weights)
    print(f"exported {len(files)} files of run {args.run} to {args.out}")
    return 0


def add_apply_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, metavar="ID", help="run id (see 'medview runs')")
    parser.add_argument("sources", nargs="+", metavar="FOLDER", help="folders or files to score")
    parser.add_argument("--out", required=True, metavar="CSV", help="predictions file to write")


def cmd_apply(args: argparse.Namespace) -> int:
    from medview.core.project import Project
    from training.apply import apply_run

    def progress(done: int, total: int, message: str = "") -> None:
        sys.stderr.write(f"\r{done}/{total} {message[:50]:50}")
        if total and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    with Project.open(args.project) as project:
        report = apply_run(project, args.run, args.sources, args.out, progress=progress)
    for skipped in report.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    print(
        f"predicted {len(report.rows)} image(s) with run {args.run} -> {report.out}"
        + (f"; {len(report.skipped)} skipped" if report.skipped else "")
    )
    return 0


def add_merge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs", nargs="+", metavar="RUN", help="the per-fold runs (--fold i) to combine"
    )
    parser.add_argument(
        "--run-id", help="id of the merged run (default: first run id without -foldN)"
    )


def cmd_merge(args: argparse.Namespace) -> int:
    from medview.core.project import Project
    from training.merge import merge_runs

    with Project.open(args.project) as project:
        run_id = merge_runs(project, args.runs, args.run_id)
    print(f"merged {len(args.runs)} runs into {run_id}")
    return 0


# `medview study` / `medview tune` live in training/study_cli.py (model studies, issue 14).
def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    from training.study_cli import add_study_arguments as add

    add(parser)


def cmd_study(args: argparse.Namespace) -> int:
    from training.study_cli import cmd_study as run

    return run(args)


def add_tune_arguments(parser: argparse.ArgumentParser) -> None:
    from training.study_cli import add_tune_arguments as add

    add(parser)


def cmd_tune(args: argparse.Namespace) -> int:
    from training.study_cli import cmd_tune as run

    return run(args)
