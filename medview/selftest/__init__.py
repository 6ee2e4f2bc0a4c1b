"""``medview self-test``: prove that this installation (or frozen bundle) really works.

The checks are the things a packaged build gets wrong silently and a user only finds out about
much later: a library left out of the bundle, a DICOM decoder plugin that is present but cannot
be found (pylibjpeg finds its plugins through package metadata), a training worker process that
cannot be spawned from a frozen executable, a Qt platform plugin that is missing. Each check
prints one ``OK``/``FAIL`` line with the reason; a failing check never ends the run with a
traceback (set ``MEDVIEW_DEBUG=1`` to see one). The exit status is 0 only if every check passed.

Nothing heavy is imported at module level: ``medview --help`` must stay light, and the imports
themselves are one of the things being checked.

The checks live in this package's modules by responsibility: ``checks_env`` (imports, device),
``checks_dicom``, ``checks_training`` and ``checks_window``; ``base`` holds what they share.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from medview.selftest.base import CheckFailed, CheckResult, Context, _first_line
from medview.selftest.checks_dicom import check_dicom
from medview.selftest.checks_env import STACK, check_device, check_imports
from medview.selftest.checks_formats import check_formats
from medview.selftest.checks_training import TRAINING_TIMEOUT_S, check_training
from medview.selftest.checks_window import WINDOW_TIMEOUT_S, check_window

__all__ = [
    "CHECKS",
    "STACK",
    "TRAINING_TIMEOUT_S",
    "WINDOW_TIMEOUT_S",
    "CheckFailed",
    "CheckResult",
    "Context",
    "check_device",
    "check_dicom",
    "check_formats",
    "check_imports",
    "check_training",
    "check_window",
    "run_self_test",
]

CHECKS: tuple[tuple[str, Callable[[Context], str]], ...] = (
    ("imports", check_imports),
    ("device", check_device),
    ("dicom", check_dicom),
    ("formats", check_formats),
    ("training", check_training),
    ("window", check_window),
)


# ---------------------------------------------------------------------------- runner
def run_self_test(out: TextIO | None = None) -> int:
    """Run every check, print one line per check, return 0 only if all passed."""
    out = out or sys.stdout
    from medview import __version__

    frozen = getattr(sys, "frozen", False)
    where = f"bundle {Path(sys.executable).parent}" if frozen else f"source {_source_root()}"
    print(
        f"medview self-test: medview {__version__}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, {where}",
        file=out,
        flush=True,
    )
    results: list[CheckResult] = []
    with _workdir() as workdir:
        ctx = Context(workdir=workdir)
        for name, check in CHECKS:
            result = _run_check(name, check, ctx)
            results.append(result)
            status = "OK  " if result.ok else "FAIL"
            print(
                f"{status} {name:9s} {result.detail} [{result.seconds:.1f} s]", file=out, flush=True
            )
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(
            f"self-test FAILED: {len(failed)} of {len(results)} checks ({', '.join(failed)})",
            file=out,
            flush=True,
        )
        return 1
    print(f"self-test passed: all {len(results)} checks OK", file=out, flush=True)
    return 0


def _run_check(name: str, check: Callable[[Context], str], ctx: Context) -> CheckResult:
    start = time.perf_counter()
    try:
        detail = check(ctx)
        ok = True
    except CheckFailed as exc:
        detail, ok = str(exc), False
    except BaseException as exc:  # noqa: BLE001 - a self-test reports, it never crashes
        if isinstance(exc, KeyboardInterrupt):
            raise
        if os.environ.get("MEDVIEW_DEBUG"):
            traceback.print_exc()
        detail, ok = f"{type(exc).__name__}: {_first_line(exc)}", False
    return CheckResult(name, ok, detail, time.perf_counter() - start)


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    # ignore_cleanup_errors: on Windows a worker that just exited may still hold a file open.
    with tempfile.TemporaryDirectory(prefix="medview-selftest-", ignore_cleanup_errors=True) as d:
        yield Path(d)


def _source_root() -> str:
    return str(Path(__file__).resolve().parents[2])
