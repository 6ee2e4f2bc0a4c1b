"""Entry points for tests that start new processes (CLI subprocess, torchrun, spawn worker):
the same code as production, plus the fallback reader while medview.io is missing."""

from __future__ import annotations

import sys

from synth import install_fallback_reader


def worker_run(config, queue, cancel_event) -> None:
    install_fallback_reader()
    from training.worker import run

    run(config, queue, cancel_event)


if __name__ == "__main__":
    install_fallback_reader()
    from training.__main__ import main

    sys.exit(main())
