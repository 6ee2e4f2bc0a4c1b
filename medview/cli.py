"""The ``medview`` command line (docs/DESIGN.md section 3).

Start-up stays light: this module imports neither Qt nor torch. The GUI is imported only when
a window is asked for, and the training commands' handlers import torch only when they run.
Exit status: 0 success, 2 bad usage, 1 failure with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from medview import __version__
from medview.core.errors import MedviewError
from medview.demo import DEFAULT_DEMO_PATH

COMMANDS = (
    "new",
    "import",
    "items",
    "label",
    "info",
    "relink",
    "demo",
    "train",
    "runs",
    "predict",
    "export",
    "apply",
    "merge",
    "study",
    "tune",
    "self-test",
    "clean-copy",
)


class UsageError(MedviewError):
    """Bad usage: exit status 2."""


# ---------------------------------------------------------------------------- commands
def cmd_new(args: argparse.Namespace) -> int:
    from medview.core.labels import parse_class_names
    from medview.core.project import Project

    classes = parse_class_names(args.labels)
    with Project.create(args.project, classes) as project:
        print(f"created {project.folder} with classes: {', '.join(classes)}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from medview.core.project import Project
    from medview.io.importer import import_sources

    sources = [Path(s) for s in args.sources]
    missing = [str(s) for s in sources if not s.exists()]
    if missing:
        raise MedviewError(f"{missing[0]}: no such file or folder")
    with Project.open(args.project) as project:
        report = import_sources(
            project,
            sources,
            label_from=args.label_from,
            labels_csv=Path(args.labels_csv) if args.labels_csv else None,
            split=args.split,
            group_pattern=args.group_pattern,
            progress=_stderr_progress("importing") if sys.stderr.isatty() else None,
        )
        for line in report.summary_lines():
            print(line)
    # Nothing usable at all is a failure; some bad files among good ones are not.
    if not report.imported and report.skipped and not report.duplicates:
        print(f"medview: nothing imported ({len(report.skipped)} file(s) skipped)", file=sys.stderr)
        return 1
    return 0


def cmd_items(args: argparse.Namespace) -> int:
    from medview.core.project import Project

    with Project.open(args.project) as project:
        items = project.items()
        predictions = project.latest_predictions()
        classes = project.class_names()
        damaged = project.damaged_rows()
    for line in damaged:  # skipped, not fatal: the rest of the project is listed
        print(f"medview: warning: {line}", file=sys.stderr)
    rows = []
    for item in items:
        row = item.to_json()
        prediction = predictions.get(item.id)
        row["prediction"] = prediction.predicted if prediction else None
        row["probability"] = (
            _probability_of(prediction.probabilities, prediction.predicted, classes)
            if prediction
            else None
        )
        rows.append(row)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    header = (
        f"{'id':>5}  {'kind':4}  {'label':12}  {'split':5}  {'group':10}  {'prediction':16}  name"
    )
    print(header)
    for row in rows:
        pred = ""
        if row["prediction"] is not None:
            pred = f"{row['prediction']} {row['probability']:.2f}"
        print(
            f"{row['id']:>5}  {row['kind']:4}  {row['label'] or '-':12.12}  "
            f"{row['split'] or '-':5}  {row['group'] or '-':10.10}  {pred:16.16}  {row['name']}"
        )
    return 0


def _probability_of(probabilities: list[float], predicted: str | None, classes: list[str]) -> float:
    if predicted in classes and len(probabilities) == len(classes):
        return float(probabilities[classes.index(predicted)])
    return float(max(probabilities)) if probabilities else float("nan")


def cmd_label(args: argparse.Namespace) -> int:
    from medview.core.project import Project

    if args.clear == (args.label is not None):
        raise UsageError("give a CLASS or --clear (not both)")
    with Project.open(args.project) as project:
        item = project.get_item(project.resolve_item_ref(args.item, by_id=args.id))
        previous = project.set_label(item.id, None if args.clear else args.label)
    new = "(none)" if args.clear else args.label
    print(f"{item.name}: {previous or '(none)'} -> {new}  [item id {item.id}]")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from medview.core.project import Project

    with Project.open(args.project) as project:
        for line in project_summary(project):
            print(line)
    return 0


def project_summary(project) -> list[str]:  # noqa: ANN001 - Project, imported lazily
    items = project.items()
    counts = project.label_counts()
    kinds = {k: sum(1 for i in items if i.kind == k) for k in ("2d", "3d")}
    lines = [
        f"project {project.name} ({project.folder})",
        f"items: {len(items)} ({kinds['3d']} volumes, {kinds['2d']} 2D images)",
        "labels: "
        + ", ".join(f"{name} {n}" for name, n in counts.items() if name is not None)
        + f", unlabelled {counts[None]}",
        f"runs: {len(project.runs())}",
    ]
    missing = project.missing_items()
    if missing:
        lines.append(f"missing files: {len(missing)} item(s) (medview relink PROJECT FOLDER)")
    damaged = project.damaged_rows()
    if damaged:
        lines.append(f"damaged rows (skipped): {len(damaged)}")
        lines.extend(f"  {line}" for line in damaged)
    return lines


def cmd_relink(args: argparse.Namespace) -> int:
    from medview.core.project import Project
    from medview.io.relink import relink_report

    with Project.open(args.project) as project:
        missing = len(project.missing_items())
        report = relink_report(project, Path(args.folder))
        print(f"re-linked {len(report.relinked)} of {missing} missing item(s)")
        if report.unmatched:
            print(f"not re-linked: {len(report.unmatched)} item(s)")
            for line in report.lines():
                print(line)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from medview.core.project import Project
    from medview.demo import create_demo_project

    path = Project.normalise_path(args.project or DEFAULT_DEMO_PATH)
    if (path / "project.db").exists():
        project = Project.open(path)
        print(f"opening the existing example project {path}")
    else:
        project = create_demo_project(path)
        print(f"wrote the example project {path}")
    with project:
        for line in project_summary(project):
            print(line)
    if args.no_gui:
        return 0
    return _run_gui(str(path))


def cmd_gui(args: argparse.Namespace) -> int:
    return _run_gui(args.project)


def _run_gui(project: str | None) -> int:
    from medview.qt_check import startup_problem

    # Qt aborts the whole process (no exception) when its xcb plugin cannot load: say why
    # and how to fix it before that can happen.
    problem = startup_problem()
    if problem:
        raise MedviewError(problem)
    try:
        from medview.ui.app import run_gui
    except ImportError as exc:
        raise MedviewError(f"the window cannot start: {exc}") from exc
    return int(run_gui(project) or 0)


def cmd_clean_copy(args: argparse.Namespace) -> int:
    from medview.core.clean_copy import clean_copy

    notes = clean_copy(args.project, args.out)
    print(f"wrote a cleaned copy of {args.project} to {args.out}")
    for note in notes:
        print(f"  {note}")
    return 0


def cmd_self_test(args: argparse.Namespace) -> int:
    from medview.selftest import run_self_test

    return run_self_test()


# ---------------------------------------------------------------------------- parser
def _training_commands() -> object | None:
    """The training engine's command handlers (no torch import until one runs)."""
    try:
        from training import cli_commands
    except ImportError:
        return None
    return cli_commands


def _label_from(value: str) -> str:
    """argparse type for --label-from: 'folder' or 'folder:N' (checked by the importer)."""
    from medview.io.importer import parse_label_from

    try:
        parse_label_from(value)
    except MedviewError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--label-from ")) from exc
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medview",
        description="Browse, label and classify 2D images and 3D medical volumes.",
        epilog="Run 'medview PROJECT' (or just 'medview') to open the window.",
    )
    parser.add_argument("--version", action="version", version=f"medview {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("new", help="create a project")
    p.add_argument("project", help="project folder (NAME.medview)")
    p.add_argument(
        "--labels",
        default="WT,MUT",
        help="class names, comma-separated, or a preset: wt-mut, benign-malignant-normal, "
        "tumour, normal-abnormal (default WT,MUT)",
    )
    p.set_defaults(handler=cmd_new)

    p = sub.add_parser("import", help="import images, volumes, DICOM folders, .npz archives")
    p.add_argument("project")
    p.add_argument("sources", nargs="+", metavar="SRC", help="files or folders (recursive)")
    p.add_argument(
        "--label-from",
        metavar="folder[:N]",
        type=_label_from,
        help="class from folder names: 'folder' takes the nearest folder named like a class, "
        "else the top folder under SRC; 'folder:N' the folder N levels up from each file "
        "(1 = the file's own folder, 2 = its parent, ...)",
    )
    p.add_argument("--labels-csv", metavar="FILE", help="CSV: path or name, label[, group]")
    p.add_argument("--split", choices=["train", "val", "test"], help="split for all imported")
    p.add_argument("--group-pattern", metavar="REGEX", help="group (patient id) from the path")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser("items", help="list items with label, split, group, last prediction")
    p.add_argument("project")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=cmd_items)

    p = sub.add_parser("label", help="set (or clear) one item's class")
    p.add_argument("project")
    p.add_argument(
        "item",
        help="item name (a name that looks like a number, such as 00042, is a name), or its "
        "id with --id; a plain number no item is named is taken as an id",
    )
    p.add_argument("label", nargs="?", metavar="CLASS")
    p.add_argument("--clear", action="store_true", help="remove the item's label")
    p.add_argument("--id", action="store_true", help="ITEM is an item id, not a name")
    p.set_defaults(handler=cmd_label)

    p = sub.add_parser("info", help="summary of a project")
    p.add_argument("project")
    p.set_defaults(handler=cmd_info)

    p = sub.add_parser("relink", help="find moved image files again by content hash")
    p.add_argument("project")
    p.add_argument("folder", help="folder to search (recursive)")
    p.set_defaults(handler=cmd_relink)

    p = sub.add_parser("demo", help="write (once) and open a small labelled example project")
    p.add_argument("project", nargs="?", help=f"where to write it (default {DEFAULT_DEMO_PATH})")
    p.add_argument("--no-gui", action="store_true", help="only write it and print a summary")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser(
        "clean-copy",
        help="copy a project whose database was refused, without its views/triggers/unknown "
        "objects (the original is only read)",
    )
    p.add_argument("project")
    p.add_argument("out", metavar="NEW", help="new project folder to write")
    p.set_defaults(handler=cmd_clean_copy)

    p = sub.add_parser("self-test", help="check imports, decoders, a training step, a window")
    p.set_defaults(handler=cmd_self_test)

    training = _training_commands()
    if training is not None:
        _add_training_parsers(sub, training)
    return parser


def _add_training_parsers(sub: argparse._SubParsersAction, training: object) -> None:
    specs: list[tuple[str, str, str, str | None]] = [
        ("train", "train or cross-validate a classifier", "cmd_train", "add_train_arguments"),
        ("runs", "list runs with status, model and key metrics", "cmd_runs", "add_runs_arguments"),
        ("predict", "apply a run's models to items", "cmd_predict", "add_predict_arguments"),
        (
            "export",
            "copy a run's reports, or its model (ONNX/TorchScript), to a folder",
            "cmd_export",
            "add_export_arguments",
        ),
        (
            "apply",
            "score images in folders with a run's models (not imported)",
            "cmd_apply",
            "add_apply_arguments",
        ),
        ("merge", "combine per-fold runs into one run", "cmd_merge", "add_merge_arguments"),
        (
            "study",
            "compare models on the same folds, with statistics",
            "cmd_study",
            "add_study_arguments",
        ),
        ("tune", "search hyper-parameters with Optuna", "cmd_tune", "add_tune_arguments"),
    ]
    for name, help_text, handler_name, adder_name in specs:
        handler: Callable[[argparse.Namespace], int] | None = getattr(training, handler_name, None)
        if handler is None:
            continue
        p = sub.add_parser(name, help=help_text)
        p.add_argument("project")
        adder = getattr(training, adder_name, None) if adder_name else None
        if adder is not None:
            adder(p)
        p.set_defaults(handler=handler)


def _stderr_progress(what: str) -> Callable[[int, int, str], None]:
    def report(done: int, total: int, message: str = "") -> None:
        width = 30
        filled = int(width * done / total) if total else 0
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{what} [{bar}] {done}/{total} {message[:40]:40}")
        if total and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report


def _tolerant_output() -> None:
    """File names that are not valid UTF-8 (old lab shares, USB sticks) reach Python as
    surrogate escapes; a strict UTF-8 stdout would turn printing one into an internal error
    in the middle of an import report. Show them escaped instead."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "") == "strict":
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _tolerant_output()
    # 'medview' and 'medview PROJECT' open the window; everything else is a sub-command.
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        if len(argv) > 1:
            print(f"medview: unknown command {argv[0]!r} (see 'medview --help')", file=sys.stderr)
            return 2
        return _guarded(cmd_gui, argparse.Namespace(project=argv[0] if argv else None))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help exits 0, bad usage exits 2
        return int(exc.code or 0)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    return _guarded(args.handler, args)


def _guarded(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return int(handler(args) or 0)
    except UsageError as exc:
        print(f"medview: {exc}", file=sys.stderr)
        return 2
    except MedviewError as exc:
        print(f"medview: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("medview: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # 'medview items P | head': the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"medview: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: one line for the user, the traceback on request
        if os.environ.get("MEDVIEW_DEBUG"):
            raise
        print(
            f"medview: internal error: {type(exc).__name__}: {exc} "
            "(set MEDVIEW_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


def gui_main() -> int:
    """Entry point of the windowed launcher (no console on Windows)."""
    return main()


if __name__ == "__main__":
    sys.exit(main())
