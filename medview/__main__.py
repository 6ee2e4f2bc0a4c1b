"""``python -m medview`` and the frozen executable's entry point."""

import multiprocessing
import sys

if __name__ == "__main__":
    # First thing: in a frozen (PyInstaller) bundle the spawned training worker re-executes
    # this executable; freeze_support() turns that re-execution into the worker process.
    multiprocessing.freeze_support()

    from medview.cli import main

    sys.exit(main())
