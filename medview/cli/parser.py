"""The ``medview`` argument parser: one small function per group of sub-commands, and the
training sub-commands added from ``training.cli_commands`` when the engine is installed."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import medview.cli.commands as commands  # not via the package: its __init__ imports this
from medview import __version__
from medview.core.errors import MedviewError
from medview.demo import DEFAULT_DEMO_PATH

Subparsers = argparse._SubParsersAction


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medview",
        description="Browse, label and classify 2D images and 3D medical volumes.",
        epilog="Run 'medview PROJECT' (or just 'medview') to open the window.",
    )
    parser.add_argument("--version", action="version", version=f"medview {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_making_commands(sub)
    _add_reading_commands(sub)
    _add_changing_commands(sub)
    _add_upkeep_commands(sub)
    training = _training_commands()
    if training is not None:
        _add_training_parsers(sub, training)
    return parser


def _add_making_commands(sub: Subparsers) -> None:
    """new, import, demo: making a project and filling it."""
    p = sub.add_parser("new", help="create a project")
    p.add_argument("project", help="project folder (NAME.medview)")
    p.add_argument(
        "--labels",
        default="WT,MUT",
        help="class names, comma-separated, or a preset: wt-mut, benign-malignant-normal, "
        "tumour, normal-abnormal (default WT,MUT)",
    )
    p.set_defaults(handler=commands.cmd_new)

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
    p.set_defaults(handler=commands.cmd_import)

    p = sub.add_parser("demo", help="write (once) and open a small labelled example project")
    p.add_argument("project", nargs="?", help=f"where to write it (default {DEFAULT_DEMO_PATH})")
    p.add_argument("--no-gui", action="store_true", help="only write it and print a summary")
    p.set_defaults(handler=commands.cmd_demo)


def _add_reading_commands(sub: Subparsers) -> None:
    """items, info: what a project holds."""
    p = sub.add_parser("items", help="list items with label, split, group, last prediction")
    p.add_argument("project")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=commands.cmd_items)

    p = sub.add_parser("info", help="summary of a project")
    p.add_argument("project")
    p.set_defaults(handler=commands.cmd_info)


def _add_changing_commands(sub: Subparsers) -> None:
    """label, relink: changing items."""
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
    p.set_defaults(handler=commands.cmd_label)

    p = sub.add_parser("relink", help="find moved image files again by content hash")
    p.add_argument("project")
    p.add_argument("folder", help="folder to search (recursive)")
    p.set_defaults(handler=commands.cmd_relink)


def _add_upkeep_commands(sub: Subparsers) -> None:
    """clean-copy, self-test: a refused project, an installation that misbehaves."""
    p = sub.add_parser(
        "clean-copy",
        help="copy a project whose database was refused, without its views/triggers/unknown "
        "objects (the original is only read)",
    )
    p.add_argument("project")
    p.add_argument("out", metavar="NEW", help="new project folder to write")
    p.set_defaults(handler=commands.cmd_clean_copy)

    p = sub.add_parser("self-test", help="check imports, decoders, a training step, a window")
    p.set_defaults(handler=commands.cmd_self_test)


def _training_commands() -> object | None:
    """The training engine's command handlers (no torch import until one runs)."""
    try:
        from training import cli_commands
    except ImportError:
        return None
    return cli_commands


def _label_from(value: str) -> str:
    """argparse type for --label-from: 'folder' or 'folder:N' (checked by the importer)."""
    from medview.io.folder_labels import parse_label_from

    try:
        parse_label_from(value)
    except MedviewError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--label-from ")) from exc
    return value


# (name, help, handler in training.cli_commands, its argument adder)
TRAINING_COMMANDS: tuple[tuple[str, str, str, str], ...] = (
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
)


def _add_training_parsers(sub: Subparsers, training: object) -> None:
    for name, help_text, handler_name, adder_name in TRAINING_COMMANDS:
        handler: Callable[[argparse.Namespace], int] | None = getattr(training, handler_name, None)
        if handler is None:
            continue
        p = sub.add_parser(name, help=help_text)
        p.add_argument("project")
        adder = getattr(training, adder_name, None)
        if adder is not None:
            adder(p)
        p.set_defaults(handler=handler)
