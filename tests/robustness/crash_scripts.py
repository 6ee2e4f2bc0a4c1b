"""Child-process bodies for the kill -9 tests (run as ``python crash_scripts.py MODE ...``).

Each prints one line ``ITEM CLASS`` per label *after* the call that stored it returned: that
is the acknowledgement a user sees (the CLI's exit, the browser's label column). Everything
acknowledged must survive a SIGKILL.
"""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stdout


def cli_burst(project: str, items: list[int]) -> None:
    """Label through the CLI's own entry point (``medview label``), in one process."""
    from medview.cli import main

    n = 0
    while True:
        item = items[n % len(items)]
        label = ("WT", "MUT")[n % 2]
        with redirect_stdout(io.StringIO()):
            code = main(["label", project, str(item), label])
        assert code == 0
        print(item, label, flush=True)
        n += 1


def gui_burst(project: str, items: list[int]) -> None:
    """Label through the main window's API, offscreen (keys 1/2 call label_selected)."""
    from PySide6.QtWidgets import QApplication

    from medview.core.project import Project
    from medview.ui.main_window import MainWindow

    app = QApplication([])
    window = MainWindow()
    window.show()
    window.set_project(Project.open(project))
    window.label_bar.advance_box.setChecked(False)
    n = 0
    while True:
        item = items[n % len(items)]
        label = ("WT", "MUT")[n % 2]
        assert window.browser.select_item(item)
        window.label_selected(label)
        app.processEvents()
        print(item, label, flush=True)
        n += 1


if __name__ == "__main__":
    mode, path, *ids = sys.argv[1:]
    {"cli": cli_burst, "gui": gui_burst}[mode](path, [int(i) for i in ids])
