"""The handlers of the project sub-commands (new, import, items, label, info, relink, demo,
clean-copy, self-test) and the window's start. Each imports what it needs when it runs, so
``medview --help`` stays light; the training sub-commands' handlers are in
``training.cli_commands``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from medview.core.errors import MedviewError
from medview.demo import DEFAULT_DEMO_PATH


class UsageError(MedviewError):
    """Bad usage: exit status 2."""


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
