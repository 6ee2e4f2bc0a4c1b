"""The import dialog's "Class folder" choice maps to --label-from folder:N (issue 10)."""

from __future__ import annotations

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
