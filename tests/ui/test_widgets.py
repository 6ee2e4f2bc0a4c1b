"""Welcome screen, label-set editor, groups, settings, window/level defaults."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

from medview.core.image import Image
from medview.core.project import Project
from medview.ui import imaging
from medview.ui.label_set_editor import LabelSetEditor
from medview.ui.main_window import MainWindow
from medview.ui.settings import Settings
from medview.ui.slice_view import SliceView

UI = Path(__file__).resolve().parents[2] / "medview" / "ui"


def test_welcome_screen_and_recent(qtbot, project: Project) -> None:  # noqa: ANN001
    folder = str(project.folder)
    project.close()
    Settings().add_recent_project(folder)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert window.stack.currentWidget() is window.welcome
    assert window.windowTitle() == "medview"
    assert folder in window.welcome.recent.item(0).text()
    assert not window.label_bar.isEnabled()
    with qtbot.waitSignal(window.imageShown, timeout=10000):
        window.welcome.recentRequested.emit(folder)
    assert window.stack.currentWidget() is window.workspace
    assert window.project is not None and window.project.item_count() == 6
    window.close_project()
    assert window.stack.currentWidget() is window.welcome


def test_missing_recent_project_is_reported_not_fatal(qtbot, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args[2]))
    window = MainWindow()
    qtbot.addWidget(window)
    assert not window.open_project(tmp_path / "gone.medview")
    assert shown and "gone.medview" in shown[0]


def test_label_set_editor(qtbot, project: Project, monkeypatch) -> None:  # noqa: ANN001
    window = MainWindow()
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.imageShown, timeout=10000):
        window.set_project(project)
        window.show()
    editor = LabelSetEditor(project, window)
    qtbot.addWidget(editor)
    editor.changed.connect(window.label_set_changed)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("unsure", True))
    editor.add()
    assert [c.name for c in project.classes()] == ["WT", "MUT", "unsure"]
    assert list(window.label_bar.buttons) == ["WT", "MUT", "unsure"]
    qtbot.keyClick(window.browser.table, Qt.Key.Key_3)
    assert project.get_item(window.browser.model.item_at(0).id).label == "unsure"
    # Rename the first class.
    editor.list.setCurrentRow(0)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("wild type", True))
    editor.rename()
    assert project.class_names()[0] == "wild type"
    assert "wild type" in window.label_bar.buttons
    # Removing a class in use asks first; "No" keeps it.
    editor.list.setCurrentRow(2)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.No)
    editor.remove()
    assert "unsure" in project.class_names()
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    editor.remove()
    assert "unsure" not in project.class_names()
    assert project.label_counts()[None] == 6  # the item labelled "unsure" lost its label
    assert window.undo_stack.count() == 0  # old entries named a class that is gone


def test_set_group_and_split(qtbot, project: Project) -> None:  # noqa: ANN001
    window = MainWindow()
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.imageShown, timeout=10000):
        window.set_project(project)
        window.show()
    window.browser.table.selectAll()
    window.set_group_selected("mouse-7")
    window.set_split_selected("test")
    assert {i.group for i in project.items()} == {"mouse-7"}
    assert {i.split for i in project.items()} == {"test"}
    assert window.browser.model.item_at(3).group == "mouse-7"


def test_window_level_defaults() -> None:
    ct = Image(np.full((4, 8, 8), -1000, np.int16), metadata={"modality": "CT"})
    assert imaging.default_window(ct) == (400.0, 40.0)
    hu = np.full((4, 8, 8), -1000, np.int16)
    hu[:, 2:6, 2:6] = 40
    assert imaging.default_window(Image(hu)) == (400.0, 40.0)  # NIfTI in HU, no tag
    assert imaging.modality_key(Image(hu)) == "CT"
    micro = Image(np.linspace(100, 5000, 4 * 8 * 8).reshape(4, 8, 8).astype(np.uint16))
    width, level = imaging.default_window(micro)
    assert 4000 < width < 5000 and imaging.modality_key(micro) is None
    rgb = Image(np.zeros((1, 8, 8, 3), np.uint8))
    assert imaging.default_window(rgb) == (255.0, 127.5)


def test_window_level_remembered_per_modality(qtbot, tmp_path) -> None:  # noqa: ANN001
    settings = Settings()
    settings.set_window_level("CT", 1500, -600)
    assert settings.window_level("CT") == (1500.0, -600.0)
    assert settings.window_level("MR") is None
    view = SliceView()
    qtbot.addWidget(view)
    view.set_image(Image(np.zeros((5, 10, 10), np.int16)), settings.window_level("CT"))
    assert view.preset_box.currentText() == "CT lung"


def test_coronal_puts_superior_at_the_top() -> None:
    array = np.zeros((3, 4, 5), np.int16)
    array[2] = 7  # the top slice (largest z: superior)
    direction = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], float)
    plane, spacing = imaging.plane(Image(array, (2.0, 1.0, 0.5), direction=direction), 1, 0)
    assert plane.shape == (3, 5) and spacing == (2.0, 0.5)
    assert (plane[0] == 7).all()
    z, y, x = imaging.plane_index_to_voxel(Image(array, direction=direction), 1, 0, 0, 4)
    assert (z, y, x) == (2, 0, 4)


@pytest.mark.parametrize("path", sorted(UI.glob("*.py")), ids=lambda p: p.name)
def test_modules_are_small(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) < 500


def test_app_module_imports_qt_lazily() -> None:
    tree = ast.parse((UI / "app.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert not any("PySide6" in (getattr(n, "module", "") or "") for n in top)
    assert any(isinstance(n, ast.FunctionDef) and n.name == "run_gui" for n in tree.body)


def test_open_example_writes_then_opens_it(qtbot, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    pytest.importorskip("medview.io.importer")
    import medview.demo

    original = medview.demo.create_demo_project
    monkeypatch.setattr(
        medview.demo,
        "create_demo_project",
        lambda path: original(path, n_volumes=2, n_images=2),
    )
    window = MainWindow()
    qtbot.addWidget(window)
    monkeypatch.setattr(window, "example_path", lambda: tmp_path / "example.medview")
    window.show()
    with qtbot.waitSignal(window.projectOpened, timeout=60000):
        window.welcome.exampleRequested.emit()
    assert window.project.item_count() == 4
    assert window.isEnabled()
    window.close_project()
    with qtbot.waitSignal(window.projectOpened, timeout=10000):
        window.open_example()  # the second time it is only opened


def test_orientation_letters() -> None:
    # A RAS NIfTI as the readers return it: array x -> patient right, y -> anterior, z ->
    # superior; as LPS direction columns in (z, y, x) order.
    ras = np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], float)
    image = Image(np.arange(4 * 5 * 6).reshape(4, 5, 6), direction=ras)
    # Radiological: axial with anterior up and the patient's right on the screen's left.
    assert imaging.edge_labels(image, 0) == ("R", "L", "A", "P")
    assert imaging.edge_labels(image, 1) == ("R", "L", "S", "I")
    assert imaging.edge_labels(image, 2) == ("A", "P", "S", "I")
    plane, _ = imaging.plane(image, 0, 2)
    # x increases to the right (patient right): shown on the left, so columns are reversed.
    assert plane[0, 0] == image.array[2, 4, 5]
    for axis in (0, 1, 2):
        data, _ = imaging.plane(image, axis, 1)
        z, y, x = imaging.plane_index_to_voxel(image, axis, 1, 0, 0)
        assert data[0, 0] == image.array[z, y, x]
    assert imaging.edge_labels(Image(np.zeros((4, 5, 6))), 0) is None  # orientation unknown


def test_view_shows_radiological_orientation(qtbot) -> None:  # noqa: ANN001
    """The patient's right-anterior corner is drawn at the top left of an axial view."""
    from PySide6.QtCore import QPointF

    ras = np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], float)
    image = Image(np.zeros((4, 10, 20), np.int16), spacing=(2.0, 0.5, 1.0), direction=ras)
    view = SliceView()
    qtbot.addWidget(view)
    view.set_image(image)
    # Item coordinates are (column, row) of the stored plane: x = 19, y = 9 is right-anterior.
    corner = view.image_item.mapToParent(QPointF(19.5, 9.5))
    assert corner.x() == pytest.approx(0.5) and corner.y() == pytest.approx(0.25)
    assert [m.text() for m in view.edge_marks] == ["R", "L", "A", "P"]
    view.set_axis(1)  # coronal: superior (largest z) at the top
    top = view.image_item.mapToParent(QPointF(0.5, 3.5))
    assert top.y() == pytest.approx(1.0)
    assert [m.text() for m in view.edge_marks] == ["R", "L", "S", "I"]


def test_unusual_arrays_display(qtbot) -> None:  # noqa: ANN001
    view = SliceView()
    qtbot.addWidget(view)
    grey_channel = Image(np.arange(2 * 6 * 7, dtype=np.float32).reshape(2, 6, 7, 1))
    view.set_image(grey_channel)
    assert view.image_item.image.shape == (6, 7)
    with_nan = np.ones((3, 5, 5), np.float32)
    with_nan[1, 2, 2] = np.nan
    view.set_image(Image(with_nan))
    assert np.isfinite(view.width_level).all()
    rgba16 = Image(np.full((1, 4, 4, 4), 4000, np.uint16))
    view.set_image(rgba16)
    assert view.image_item.image.shape == (4, 4, 4)
    assert not view.slider.isVisibleTo(view)
