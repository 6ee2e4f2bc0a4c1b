"""The training sub-commands for medview/cli.py: train, runs, predict, export, apply, merge,
study, tune (found here by name; train's flags and handler are in training/train_arguments.py
and training/train_command.py).

This module imports no torch at module level (``medview --help`` must stay fast); each
``cmd_*`` imports the engine when it runs. ``args.project`` is the project path. Return codes
follow docs/DESIGN.md: 0 success, 1 failure (a ``MedviewError`` for user errors, printed as one line
by the CLI), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys

# `medview train`'s flags and handler live in their own modules; medview/cli/parser.py finds
# every sub-command's handler and argument adder here by name.
from training.train_arguments import _positive_int
from training.train_arguments import add_train_arguments as add_train_arguments
from training.train_arguments import config_from_args as config_from_args
from training.train_command import ProgressPrinter as ProgressPrinter
from training.train_command import cmd_train as cmd_train


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
