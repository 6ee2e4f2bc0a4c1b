"""Marking a key slice in the window: K (or the button) stores the plane on screen in the
project, the browser's Key slice column shows it, K on the key slice clears it, 2D images
have no button."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from test_main_window import open_window, select

from medview.core.key_slice_store import KeySlice
from medview.core.project import Project
from medview.ui.browser_model import COL_KEY
from medview.ui.key_slice import MARK_TEXT, MARKED_TEXT


def _key_text(window, item_id: int) -> str:  # noqa: ANN001
    model = window.browser.model
    return model.data(model.index(model.row_of(item_id), COL_KEY))


def test_k_marks_the_slice_on_screen_and_the_browser_shows_it(qtbot, project: Project) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    volume = next(it for it in project.items() if it.kind == "3d")
    select(qtbot, window, volume.id)
    control, view = window.key_slice, window.slice_view
    assert control.button.isVisible() and control.button.text() == MARK_TEXT
    view.set_axis(1)  # coronal: the key slice is the plane the user looks at
    view.set_slice(7)
    qtbot.keyClick(window.browser.table, Qt.Key.Key_K)
    with Project.open(project.folder) as other:  # committed for other processes too
        assert other.key_slice(volume.id) == KeySlice(1, 7)
    assert control.button.isChecked() and control.button.text() == MARKED_TEXT
    assert _key_text(window, volume.id) == "★ coronal 8"
    view.set_slice(3)  # elsewhere: the note says where the key slice is, a click goes there
    assert not control.button.isChecked() and control.note.text() == "key: coronal 8"
    control.note.click()
    assert (view.axis, view.index) == (1, 7) and control.button.isChecked()
    control.button.click()  # on the key slice: clears it
    assert project.key_slice(volume.id) is None and _key_text(window, volume.id) == ""


def test_images_have_no_key_slice_button(qtbot, project: Project, tmp_path: Path) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    image = next(it for it in project.items() if it.kind == "2d")
    select(qtbot, window, image.id)
    assert not window.key_slice.button.isVisible()
    qtbot.keyClick(window.browser.table, Qt.Key.Key_K)  # nothing to mark, nothing written
    assert project.key_slices() == {}
