"""The ``medview`` command line (docs/DESIGN.md section 3).

Start-up stays light: this module imports neither Qt nor torch. The GUI is imported only when
a window is asked for, and the training commands' handlers import torch only when they run.
Exit status: 0 success, 2 bad usage, 1 failure with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence

from medview.cli.commands import UsageError, cmd_gui, project_summary
from medview.cli.parser import build_parser
from medview.core.errors import MedviewError

COMMANDS = (
    "new",
    "import",
    "items",
    "label",
    "key-slice",
    "info",
    "relink",
    "demo",
    "train",
    "runs",
    "predict",
    "export",
    "apply",
    "merge",
    "compare",
    "study",
    "tune",
    "self-test",
    "clean-copy",
)

__all__ = ["COMMANDS", "UsageError", "build_parser", "gui_main", "main", "project_summary"]


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
