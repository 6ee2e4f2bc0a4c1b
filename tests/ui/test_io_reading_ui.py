"""Issue 10's reading items in the window: the import dialog's "Class folder" choice
(--label-from folder:N) and the re-link message saying why a series did not match."""

from __future__ import annotations

import shutil
from pathlib import Path

from medview.io.importer import parse_label_from
from medview.ui.import_dialog import FOLDER_LEVELS, ImportOptionsDialog


def test_class_folder_level_choice(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "patient001" / "WT").mkdir(parents=True)
    dialog = ImportOptionsDialog([str(tmp_path)], ["WT", "MUT"])
    qtbot.addWidget(dialog)
    dialog.label_from_folder.setChecked(True)
    assert dialog.folder_level.isEnabled()
    assert dialog.options()["label_from"] == "folder"  # the nearest class folder
    dialog.folder_level.setCurrentIndex(1)
    assert dialog.options()["label_from"] == "folder:1"
    dialog.folder_level.setCurrentIndex(2)
    assert dialog.options()["label_from"] == "folder:2"
    # Every choice is one the importer accepts.
    for index in range(1, len(FOLDER_LEVELS)):
        dialog.folder_level.setCurrentIndex(index)
        assert parse_label_from(dialog.options()["label_from"]) == index
    dialog.label_from_folder.setChecked(False)
    assert not dialog.folder_level.isEnabled()
    assert dialog.options()["label_from"] is None


def test_relink_says_why_in_the_status_bar(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    from io_helpers import write_series

    from medview.core.project import Project
    from medview.io.importer import import_sources
    from medview.ui import menus
    from medview.ui.main_window import MainWindow

    write_series(tmp_path / "data" / "ct", count=6, size=(8, 8))
    project = Project.create(tmp_path / "p.medview", ["WT", "MUT"])
    import_sources(project, [tmp_path / "data"])
    shutil.move(tmp_path / "data", tmp_path / "moved")
    sorted((tmp_path / "moved" / "ct").iterdir())[0].unlink()
    window = MainWindow()
    qtbot.addWidget(window)
    window.set_project(project)
    with qtbot.waitSignal(window.relinked, timeout=30000) as blocker:
        menus.relink_missing(window, str(tmp_path / "moved"))
    assert blocker.args == [0]
    message = window.statusBar().currentMessage()
    assert "Re-linked 0 of 1" in message and "1 of 6 slices missing" in message
