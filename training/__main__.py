"""``python -m training PROJECT [options]``: the same run as ``medview train``, headless."""

from __future__ import annotations

import argparse
import sys

from medview.core.errors import MedviewError
from training.cli_commands import add_train_arguments, cmd_train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training", description="Train or cross-validate a classifier on a project."
    )
    parser.add_argument("project", help="the project folder (NAME.medview)")
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return cmd_train(args)
    except MedviewError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
