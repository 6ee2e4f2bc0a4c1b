"""The main window end to end: browse, view, label, undo, reopen."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from medview.core.project import Project
from medview.ui.main_window import MainWindow


def open_window(qtbot, project: Project) -> MainWindow:  # noqa: ANN001
    window = MainWindow()
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.imageShown, timeout=10000):
        window.set_project(project)
        window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    return window


def select(qtbot, window: MainWindow, item_id: int) -> None:  # noqa: ANN001
    if window.browser.current_id() == item_id:
        return
    with qtbot.waitSignal(window.imageShown, timeout=10000):
        assert window.browser.select_item(item_id)


def wheel(view, steps: int) -> None:  # noqa: ANN001
    viewport = view.graphics.viewport()
    centre = QPointF(viewport.width() / 2, viewport.height() / 2)
    event = QWheelEvent(
        centre,
        viewport.mapToGlobal(centre),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, event)


def test_select_item_shows_it(qtbot, project: Project) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    first = project.items()[0]
    assert window.slice_view.image is not None
    assert window.slice_view.image.shape == tuple(first.shape[:3])
    second = project.items()[3]  # a 2D PNG
    select(qtbot, window, second.id)
    assert window.slice_view.image.kind == "2d"
    assert window.current_item.id == second.id


def test_slice_by_wheel_and_key_and_axis(qtbot, project: Project) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    view = window.slice_view
    start = view.index
    assert start == 6  # the middle of 12 slices
    wheel(view, 1)
    assert view.index != start
    after_wheel = view.index
    qtbot.keyClick(window.browser.table, Qt.Key.Key_PageDown)
    assert view.index == after_wheel + 1
    qtbot.keyClick(window.browser.table, Qt.Key.Key_PageUp)
    assert view.index == after_wheel
    assert view.slider.value() == view.index
    qtbot.keyClick(window.browser.table, Qt.Key.Key_C)  # coronal
    assert view.axis == 1
    assert view.image_item.image.shape == (12, 32)  # z rows, x columns
    # Anisotropic spacing: 12 slices of 3 mm are 36 mm tall, 32 columns of 0.8 mm 25.6 mm wide.
    rect = view.image_item.mapRectToParent(view.image_item.boundingRect())
    assert rect.height() == pytest.approx(36.0)
    assert rect.width() == pytest.approx(25.6)
    view.set_axis(2)
    assert view.image_item.image.shape == (12, 40)


def test_preset_changes_levels(qtbot, project: Project) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    view = window.slice_view
    before = tuple(view.image_item.getLevels())
    view.apply_preset("CT lung")
    after = tuple(view.image_item.getLevels())
    assert after != before
    assert after == pytest.approx((-600 - 750, -600 + 750))
    view.apply_preset("CT soft tissue")
    assert tuple(view.image_item.getLevels()) == pytest.approx((-160, 240))


def test_right_drag_changes_window(qtbot, project: Project) -> None:  # noqa: ANN001
    from PySide6.QtTest import QTest

    window = open_window(qtbot, project)
    view = window.slice_view
    width, level = view.width_level
    viewport = view.graphics.viewport()
    start = QPoint(viewport.width() // 2, viewport.height() // 2)
    right, none = Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier
    QTest.mousePress(viewport, right, none, start)
    for step in range(1, 11):  # right and up: wider and brighter
        QTest.mouseMove(viewport, start + QPoint(6 * step, -3 * step))
    QTest.mouseRelease(viewport, right, none, start + QPoint(60, -30))
    assert view.width_level[0] > width
    assert view.width_level[1] < level  # brighter: a lower centre of the window
    assert view.preset_box.currentIndex() == -1  # shown as "Custom"


def test_label_key_stores_and_advances(qtbot, project: Project) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    items = project.items()
    select(qtbot, window, items[1].id)
    window.browser.table.setFocus()
    qtbot.keyClick(window.browser.table, Qt.Key.Key_2)
    assert project.get_item(items[1].id).label == "MUT"
    row = window.browser.model.row_of(items[1].id)
    assert window.browser.model.item_at(row).label == "MUT"
    assert "MUT" in window.browser.counts_label.text()
    # Advance: the next unlabelled item is now current.
    qtbot.waitUntil(lambda: window.browser.current_id() == items[2].id)
    assert window.label_bar.buttons["MUT"].text().endswith("(1)")


def test_undo_redo(qtbot, project: Project) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    items = project.items()
    select(qtbot, window, items[1].id)
    qtbot.keyClick(window.browser.table, Qt.Key.Key_1)
    assert project.get_item(items[1].id).label == "WT"
    qtbot.keyClick(window.browser.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert project.get_item(items[1].id).label is None
    assert window.browser.current_id() == items[1].id  # undo goes back to the item
    shift_ctrl = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.browser.table, Qt.Key.Key_Z, shift_ctrl)
    assert project.get_item(items[1].id).label == "WT"
    # 0 clears, and that too can be undone.
    select(qtbot, window, items[1].id)
    qtbot.keyClick(window.browser.table, Qt.Key.Key_0)
    assert project.get_item(items[1].id).label is None
    window.undo()
    assert project.get_item(items[1].id).label == "WT"


def test_labels_survive_reopen(qtbot, project: Project) -> None:  # noqa: ANN001
    folder = project.folder
    window = open_window(qtbot, project)
    items = project.items()
    select(qtbot, window, items[4].id)
    qtbot.keyClick(window.browser.table, Qt.Key.Key_2)
    window.close()
    assert window.project is None  # closed with the window
    reopened = Project.open(folder)
    try:
        assert reopened.get_item(items[4].id).label == "MUT"
        assert reopened.get_item(items[0].id).label == "WT"
    finally:
        reopened.close()
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.settings.recent_projects()[0] == str(folder)
    with qtbot.waitSignal(second.imageShown, timeout=10000):
        assert second.open_project(folder)
    row = second.browser.model.row_of(items[4].id)
    assert second.browser.model.item_at(row).label == "MUT"


def test_rgb_image_in_colour(qtbot, project: Project) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    rgb = next(i for i in project.items() if i.name == "colour.png")
    select(qtbot, window, rgb.id)
    view = window.slice_view
    assert view.image.is_rgb
    assert view.image_item.image.shape == (40, 60, 3)
    assert not view.cmap_box.isEnabled()
    assert not view.axis_group.button(1).isEnabled()
    assert tuple(view.image_item.getLevels()) == pytest.approx((0, 255))


def test_quick_filter_and_counts(qtbot, project: Project) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    browser = window.browser
    browser.set_quick_filter("unlabelled")
    assert browser.proxy.rowCount() == 5
    browser.set_quick_filter("class", "WT")
    assert browser.proxy.rowCount() == 1
    browser.set_quick_filter("all")
    browser.filter_edit.setText("grey")
    assert browser.proxy.rowCount() == 2
    assert "unlabelled&nbsp;<b>5</b>" in browser.counts_label.text()


def test_cursor_readout(qtbot, project: Project) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    view = window.slice_view
    from medview.ui import imaging

    scene_pos = view.image_item.mapToScene(QPointF(10.5, 20.5))  # column 10, row 20
    view._mouse_moved(scene_pos)
    text = view.readout.text()
    z, y, x = imaging.plane_index_to_voxel(view.image, 0, view.index, 20, 10, oriented=False)
    # Voxels count from 1, as the slice slider does ("axial 7 / 12" and "z 7").
    assert f"x {x + 1}" in text and f"y {y + 1}" in text and "z 7" in text
    assert view.slice_label.text().split()[1] == "7"
    value = view.image.array[z, y, x]
    assert view.image_item.image[20, 10] == value  # the pixel drawn is the voxel named
    assert f"value {int(value)}" in text
    assert "mm" in text
    assert np.isfinite(value)


def test_unreadable_item_shows_a_message(qtbot, project: Project, data_dir) -> None:  # noqa: ANN001
    (data_dir / "vol1.nii.gz").write_bytes(b"not a nifti file")
    window = open_window(qtbot, project)
    broken = project.items()[1]
    window.loader.cache.discard(broken.id)  # it may have been read ahead before we broke it
    select(qtbot, window, broken.id)
    assert window.slice_view.image is None
    assert window.slice_view.overlay.isVisible()
    assert "vol1.nii.gz" in window.slice_view.overlay.text()
    select(qtbot, window, project.items()[2].id)  # and the next one still works
    assert window.slice_view.image is not None


def test_next_item_is_read_ahead(qtbot, project: Project) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    second = project.items()[1].id
    qtbot.waitUntil(lambda: window.loader.cache.get(second) is not None, timeout=10000)
    assert window.loader.request(project, project.get_item(second))  # served from memory


def test_slow_load_shows_busy_and_keeps_the_window_responsive(
    qtbot, project: Project, monkeypatch
) -> None:  # noqa: ANN001
    import threading

    from medview.ui import loader

    release = threading.Event()
    original = loader.load

    def slow(project, item):  # noqa: ANN001, ANN202
        release.wait(10)
        return original(project, item)

    window = open_window(qtbot, project)
    monkeypatch.setattr(loader, "load", slow)
    window.loader.cache.clear()
    window.browser.select_item(project.items()[2].id)
    qtbot.waitUntil(lambda: window.slice_view.overlay.isVisible(), timeout=3000)
    assert window.slice_view.overlay.text() == "Loading…"
    window.browser.filter_edit.setText("vol")  # the GUI thread is free meanwhile
    assert window.browser.proxy.rowCount() == 3
    with qtbot.waitSignal(window.imageShown, timeout=10000):
        release.set()
    assert not window.slice_view.overlay.isVisible()


def test_demo_project(qtbot, tmp_path) -> None:  # noqa: ANN001
    pytest.importorskip("medview.io.importer")
    pytest.importorskip("medview.io.readers")
    from medview.demo import create_demo_project

    project = create_demo_project(tmp_path / "demo.medview", n_volumes=4, n_images=4)
    window = open_window(qtbot, project)
    assert window.browser.model.rowCount() == 8
    volume = next(i for i in project.items() if i.kind == "3d")
    select(qtbot, window, volume.id)
    assert window.slice_view.image.kind == "3d"
    rgb = next(i for i in project.items() if i.kind == "2d")
    select(qtbot, window, rgb.id)
    assert window.slice_view.image.is_rgb
    pytest.importorskip("medview.io.thumbnails")
    from PySide6.QtGui import QPixmap

    from medview.ui.browser import COL_THUMB

    model = window.browser.model
    model.index(model.row_of(rgb.id), COL_THUMB).data(Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(
        lambda: isinstance(model.data(model.index(model.row_of(rgb.id), COL_THUMB), 1), QPixmap),
        timeout=10000,
    )


def test_typing_in_the_filter_does_not_label(qtbot, project: Project) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    before = project.label_counts()
    window.browser.filter_edit.setFocus()
    qtbot.keyClicks(window.browser.filter_edit, "vol2 sac")
    assert window.browser.filter_edit.text() == "vol2 sac"
    assert project.label_counts() == before  # "2" went into the text, not onto an item
    assert window.slice_view.axis == 0  # nor did "s" or "a" or "c" switch the plane


def test_ctrl_wheel_zooms_instead_of_scrolling(qtbot, project: Project) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    view = window.slice_view
    index = view.index
    before = view.viewbox.viewRange()
    viewport = view.graphics.viewport()
    centre = QPointF(viewport.width() / 2, viewport.height() / 2)
    event = QWheelEvent(
        centre,
        viewport.mapToGlobal(centre),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.ControlModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, event)
    after = view.viewbox.viewRange()
    assert view.index == index
    assert (after[0][1] - after[0][0]) < (before[0][1] - before[0][0])  # zoomed in
    view.reset_zoom()


def test_training_dock_slot_and_layout_memory(qtbot, project: Project) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QLabel

    window = open_window(qtbot, project)
    dock = window.add_dock(QLabel("training"), "Training", name="trainingDock")
    assert dock.toggleViewAction() in window.menus.view.actions()
    window.close()
    again = MainWindow()
    qtbot.addWidget(again)
    # The offscreen screen is 800x600, so sizes are clamped: check that both were stored
    # and that Qt accepts them back.
    assert again.restoreGeometry(again.settings.window_geometry())
    assert again.restoreState(again.settings.window_state())


def test_prediction_columns_and_disagreement_filter(qtbot, project: Project) -> None:  # noqa: ANN001
    from medview.ui.browser import COL_PRED, COL_PROB

    window = open_window(qtbot, project)
    model = window.browser.model
    assert model.index(0, COL_PRED).data() == ""  # no run yet: empty columns
    items = project.items()
    project.create_run("run-1", {"model": "cnn_small"})
    project.add_predictions(
        "run-1",
        [(items[0].id, 0, None, [0.2, 0.8], "MUT"), (items[1].id, 0, None, [0.9, 0.1], "WT")],
    )
    project.finish_run("run-1", "finished")  # no pin yet: the newest finished run is in view
    window.refresh_predictions()
    assert model.index(0, COL_PRED).data() == "MUT"
    assert model.index(0, COL_PROB).data() == "0.80"
    window.browser.set_quick_filter("disagree")
    assert window.browser.proxy.rowCount() == 1  # item 0 is labelled WT, predicted MUT


def test_colour_map_and_project_drop(qtbot, project: Project, monkeypatch) -> None:  # noqa: ANN001
    window = open_window(qtbot, project)
    view = window.slice_view
    view.set_colormap("Viridis")
    assert view.image_item.lut is not None and view.image_item.lut.shape == (256, 3)
    assert window.settings.value("view/colormap") == "Viridis"
    view.set_colormap("no such map")  # a stale setting never breaks the view
    assert view.cmap_box.currentText() == "Grey"
    # Dropping a project folder opens it instead of importing it.
    opened = []
    monkeypatch.setattr(window, "open_project", lambda path: opened.append(path))
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(project.folder))])
    event = QDropEvent(
        QPointF(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    assert opened == [str(project.folder)]


def test_label_several_selected_items_at_once(qtbot, project: Project) -> None:  # noqa: ANN001
    from PySide6.QtCore import QItemSelectionModel

    window = open_window(qtbot, project)
    table = window.browser.table
    selection = table.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for row in (3, 4, 5):
        selection.select(window.browser.proxy.index(row, 1), flags)
    ids = window.browser.selected_ids()
    assert len(ids) >= 3
    qtbot.keyClick(table, Qt.Key.Key_2)
    assert all(project.get_item(i).label == "MUT" for i in ids)
    window.undo()
    assert all(project.get_item(i).label != "MUT" for i in ids)
    assert window.undo_stack.undoText() == ""
    assert window.undo_stack.redoText().startswith("label")


def test_sort_and_shown_count(qtbot, project: Project) -> None:  # noqa: ANN001
    from medview.ui.browser import COL_LABEL, COL_NAME, ITEM_ID_ROLE

    window = open_window(qtbot, project)
    browser = window.browser
    browser.table.sortByColumn(COL_NAME, Qt.SortOrder.DescendingOrder)
    names = [browser.proxy.index(r, COL_NAME).data() for r in range(browser.proxy.rowCount())]
    assert names == sorted(names, reverse=True)
    browser.table.sortByColumn(COL_LABEL, Qt.SortOrder.DescendingOrder)
    first = browser.proxy.index(0, 0).data(ITEM_ID_ROLE)
    assert project.get_item(first).label == "WT"
    browser.filter_edit.setText("grey")
    assert "2 shown" in browser.counts_label.text()


def test_menus_and_training_docks_are_declared_objects(qtbot, project: Project) -> None:  # noqa: ANN001
    from PySide6.QtGui import QKeySequence

    window = MainWindow()
    qtbot.addWidget(window)
    menus, training = window.menus, window.training
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["&File", "&Edit", "&View", "&Training", "&Help"]  # Help stays last
    # Entries are reachable by id, with the shortcut they were declared with.
    assert menus.actions["file.import"].shortcut() == QKeySequence("Ctrl+I")
    assert training.actions["training.train"].shortcut() == QKeySequence("Ctrl+T")
    assert menus.undo is menus.actions["edit.undo"] and not menus.undo.isEnabled()
    # Every dock's toggle is in View: the browser's, then the two training docks'.
    toggles = [d.toggleViewAction() for d in (window.browser_dock, *training.docks)]
    assert all(t in menus.view.actions() for t in toggles)
    assert training.panel is window.training_panel and training.model_actions is not None
    # Project-only entries follow the project.
    assert not menus.actions["file.close"].isEnabled()
    assert not menus.submenus["edit.split"].menuAction().isEnabled()
    window.set_project(project)
    assert menus.actions["file.close"].isEnabled() and menus.actions["edit.next"].isEnabled()
    assert menus.actions["file.quit"] not in menus.project_actions
    window.close_project()
    assert not menus.actions["file.import"].isEnabled()
