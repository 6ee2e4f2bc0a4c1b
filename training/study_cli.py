"""`medview study` and `medview tune` (registered through training/cli_commands.py).

    medview study PROJECT --models cnn_small,mobilenet_v2,resnet18,densenet121 [train options]
    medview study PROJECT --resume STUDY          # train only what is not finished
    medview study PROJECT --list                  # the project's studies
    medview tune PROJECT --model M --budget 20 [--minutes 60] [train options]
    medview tune PROJECT --space 3d --budget 20   # cnn3d_small + MedicalNet depths, AUC and MACs
    medview tune PROJECT --resume STUDY           # a killed search goes on

Ctrl-C cancels after the current batch; finished runs are kept. No torch import until a
command runs.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from medview.core.errors import MedviewError
from training.train_command import with_sigint_cancel


def _study_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", metavar="STUDY", help="continue this study (its settings)")
    parser.add_argument("--study-id", metavar="ID", help="name of a new study (default: time)")
    parser.add_argument("--list", action="store_true", help="list the project's studies and stop")


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    from training.cli_commands import add_train_arguments

    g = parser.add_argument_group("study")
    g.add_argument(
        "--models",
        metavar="A,B,...",
        help="the models to compare, comma-separated (same folds, seed, input and budget)",
    )
    _study_options(g)  # type: ignore[arg-type]
    add_train_arguments(parser)


def add_tune_arguments(parser: argparse.ArgumentParser) -> None:
    from training.cli_commands import add_train_arguments

    g = parser.add_argument_group("search")
    g.add_argument("--budget", type=int, default=20, help="number of trials (default 20)")
    g.add_argument("--minutes", type=float, help="stop starting new trials after this long")
    g.add_argument("--models", metavar="A,B,...", help="search over these models as well")
    g.add_argument(
        "--space",
        choices=("3d",),
        help="3d: cnn3d_small and the MedicalNet depths, scored by AUC and MACs",
    )
    _study_options(g)  # type: ignore[arg-type]
    add_train_arguments(parser)


def _list_studies(project_path: str) -> int:
    from medview.core.project import Project

    with Project.open(project_path) as project:
        studies = project.studies()
        counts = {s.id: len(project.study_runs(s.id)) for s in studies}
    if not studies:
        print("no studies")
        return 0
    for s in studies:
        what = ",".join(s.spec.get("models", []))
        print(f"{s.id:32s} {s.kind:8s} {s.status:12s} runs {counts[s.id]:3d}  {what}")
    return 0


class StudyPrinter:
    """The train printer, plus the study's own progress ("model 2 of 4") in words."""

    def __init__(self, json_lines: bool) -> None:
        from training.cli_commands import ProgressPrinter

        self.inner = ProgressPrinter(json_lines)
        self.json_lines = json_lines

    def __call__(self, message: Any) -> None:
        if message.type == "progress" and message.stage in ("study", "tune"):
            if self.json_lines:
                self.inner(message)
            else:
                what = "models" if message.stage == "study" else "trials"
                self.inner.stream.write(
                    f"{message.stage}: {message.done}/{message.total} {what} done\n"
                )
                self.inner.stream.flush()
            return
        self.inner(message)


def _fmt(v: Any, nd: int = 3) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def print_report(report: dict[str, Any]) -> None:
    print(f"study {report['id']} ({report['status']})")
    layout = "{:22s} {:10s} {:>15s} {:>9s} {:>10s} {:>8s} {:>9s}"
    print(layout.format("model/run", "status", "CV AUC", "test AUC", "params", "GMACs", "s/epoch"))
    for r in report["rows"]:
        label = r["model"] if report["kind"] == "compare" else r["run_id"]
        auc = (
            f"{r['cv_auc_mean']:.3f}±{r.get('cv_auc_std') or 0:.3f}"
            if r.get("cv_auc_mean") is not None
            else "-"
        )
        params = f"{r['parameters'] / 1e6:.2f}M" if r.get("parameters") else "-"
        macs = _fmt(r["macs"] / 1e9, 2) if r.get("macs") else "-"
        print(
            layout.format(
                str(label)[:22],
                r["status"],
                auc,
                _fmt(r.get("test_auc")),
                params,
                macs,
                _fmt(r.get("seconds_per_epoch"), 1),
            )
        )
    for pair in report.get("paired", []):
        print(pair["sentence"])


def cmd_study(args: argparse.Namespace) -> int:
    if args.list:
        return _list_studies(args.project)
    from training.cli_commands import config_from_args
    from training.study import parse_models, run_study

    if args.fold:
        raise MedviewError("--fold cannot be used in a study (every run trains all folds)")
    if not args.resume and not args.models:
        raise MedviewError("study needs --models a,b,... (or --resume STUDY)")
    cfg = config_from_args(args)
    models = parse_models(args.models) if args.models else None
    outcome = with_sigint_cancel(
        lambda cancelled: run_study(
            cfg,
            models,
            StudyPrinter(args.json_progress),
            cancelled,
            study_id=args.study_id,
            resume=args.resume,
        )
    )
    if not args.json_progress:
        print_report(outcome.report)
        print(f"files: {outcome.folder}")
    return 0 if outcome.status == "finished" else 1


def cmd_tune(args: argparse.Namespace) -> int:
    if args.list:
        return _list_studies(args.project)
    from training.cli_commands import config_from_args
    from training.tune import run_tune

    if args.fold:
        raise MedviewError("--fold cannot be used in a search (every trial trains all folds)")
    models = [m for m in (args.models or "").split(",") if m] or None
    cfg = config_from_args(args)
    outcome = with_sigint_cancel(
        lambda cancelled: run_tune(
            cfg,
            models,
            args.budget,
            args.minutes,
            StudyPrinter(args.json_progress),
            cancelled,
            space_name=args.space,
            study_id=args.study_id,
            resume=args.resume,
        )
    )
    if not args.json_progress:
        print(f"search {outcome.study_id}: {outcome.trials_run} trial(s) run this time")
        if outcome.best_run:
            print(f"best: {outcome.best_run} {json.dumps(outcome.best_settings)}")
        print(f"files: {outcome.folder}")
    return 0 if outcome.status == "finished" else 1
