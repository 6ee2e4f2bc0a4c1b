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


def gui_train(project: str, settings: list[int]) -> None:
    """Start a run from the window's Training dock; print the worker's pid at its first
    epoch, then keep the window alive until killed."""
    from PySide6.QtWidgets import QApplication

    from medview.core.project import Project
    from medview.ui.main_window import MainWindow

    app = QApplication([])
    window = MainWindow()
    window.show()
    window.set_project(Project.open(project))
    panel = window.training_panel
    epochs, size = settings
    panel.form.set_values(
        {"model": "cnn3d_small", "epochs": epochs, "folds": 2, "batch_size": 4, "size": size}
    )
    panel.session.overrides = {"threads": 1, "predict_unlabelled": False, "augment": "none"}
    assert panel.start()
    assert panel.bridge is not None
    panel.bridge.epoch.connect(lambda *_: print("epoch", panel.bridge.job.pid, flush=True))
    app.exec()


if __name__ == "__main__":
    mode, path, *ids = sys.argv[1:]
    {"cli": cli_burst, "gui": gui_burst, "gui_train": gui_train}[mode](path, [int(i) for i in ids])
