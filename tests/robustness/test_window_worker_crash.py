"""The window survives a training worker that segfaults: a clear message, the run marked
failed, and labelling and training still work afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("torch")

from test_crash import _training_project  # noqa: E402

from medview.core.project import Project  # noqa: E402

TINY = {"model": "cnn3d_small", "epochs": 50, "folds": 2, "batch_size": 4, "size": 16}


@pytest.fixture
def window(qtbot, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory):
    from PySide6.QtCore import QSettings, QStandardPaths

    from medview.ui.main_window import MainWindow
    from medview.ui.settings import Settings

    QStandardPaths.setTestModeEnabled(True)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    settings_dir = tmp_path_factory.mktemp("settings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    win.show()
    win.set_project(Project.open(_training_project(tmp_path)))
    panel = win.training_panel
    panel.form.set_values({**TINY, "augment": "none"})
    panel.session.overrides = {"threads": 1, "predict_unlabelled": False}
    yield win
    panel.shutdown()
    win.close_project()


def test_a_segfaulting_worker_leaves_the_window_working(qtbot, window) -> None:
    panel = window.training_panel
    panel.session.target = "rb_workers:segfault_worker"
    assert panel.start()
    with qtbot.waitSignal(panel.runEnded, timeout=120_000) as ended:
        pass
    status, run_id = ended.args
    assert status == "failed" and run_id
    from training_helpers import failure_box

    box = failure_box(window)
    shown = panel.status.text() + " " + box.text()
    assert "SIGSEGV" in shown and "stopped unexpectedly" in shown, shown
    with Project.open(window.project.folder) as other:
        assert other.get_run(run_id).status == "failed"
    box.close()
    # Still working: label an item, and the Train button is back.
    item = window.browser.model.items()[0].id
    assert window.browser.select_item(item)
    window.label_selected("MUT")
    assert window.project.get_item(item).label == "MUT"
    assert panel.train_button.isEnabled()
