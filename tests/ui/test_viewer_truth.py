"""The viewer tells the truth (issue 26): right-drag window/level follows the item's
intensity range with rounded values, the pixel readout follows the slice and counts as the
slider does, and a window/level belongs to its item."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from projects import make_volume_project
from PySide6.QtCore import QPointF

from medview.core.image import Image
from medview.ui.main_window import MainWindow
from medview.ui.settings import Settings
from medview.ui.slice_view import SliceView


@pytest.fixture
def view(qtbot) -> SliceView:  # noqa: ANN001
    view = SliceView()
    qtbot.addWidget(view)
    view.resize(700, 600)
    view.show()
    return view


def test_an_80_pixel_drag_on_a_normalised_image_stays_readable(view: SliceView) -> None:
    rng = np.random.default_rng(0)
    view.set_image(Image(rng.uniform(0.0, 0.2, (4, 32, 32)).astype(np.float32)))
    width0, level0 = view.width_level
    view.viewbox.sigWindowDrag.emit(-80.0, 0.0)  # 80 pixels to the left: narrower
    width, level = view.width_level
    # 16 % of the intensity range, as 3D Slicer scales it (it was "W 1e-06": binary).
    assert 0.1 < width < width0 and level == pytest.approx(level0, abs=1e-4)
    text = view.wl_label.text()
    assert "e-" not in text and re.fullmatch(r"W 0\.\d{4}  L 0\.\d{4}", text), text


def test_ct_window_shows_whole_numbers(view: SliceView) -> None:
    hu = np.full((4, 32, 32), -1000, np.int16)
    hu[:, 8:24, 8:24] = 40
    hu[:, 0, 0] = 3000  # bone: the range is 4000 HU
    view.set_image(Image(hu, metadata={"modality": "CT"}))
    assert view.wl_label.text() == "W 400  L 40"
    view.viewbox.sigWindowDrag.emit(80.0, -10.0)
    assert view.wl_label.text() == "W 1040  L -40"


def test_the_readout_follows_the_slice_and_counts_from_1_as_the_slider(view: SliceView) -> None:
    volume = np.zeros((6, 20, 20), np.float32)
    for z in range(6):
        volume[z] = 10 * z
    view.set_image(Image(volume))
    view.set_slice(2)
    assert view.slice_label.text() == "axial 3 / 6"
    view._mouse_moved(view.image_item.mapToScene(QPointF(5.5, 7.5)))  # the mouse rests
    assert "z 3 " in view.readout.text() and view.readout.text().endswith("value 20")
    view.set_slice(4)  # the wheel turns, the mouse does not move
    assert view.slice_label.text() == "axial 5 / 6"
    text = view.readout.text()
    assert text.startswith("x 6  y 8  z 5 ") and text.endswith("value 40"), text


def test_a_window_level_belongs_to_its_item(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    project = make_volume_project(tmp_path, n=4, unlabelled=0)
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    window.show()
    window.set_project(project)
    first, second = (it.id for it in project.items()[:2])

    def show(item_id: int) -> None:
        with qtbot.waitSignal(window.imageShown, timeout=10000):
            window.browser.select_item(item_id)

    if window.current_item is None or window.current_item.id != first:
        show(first)
    qtbot.waitUntil(lambda: window.slice_view.image is not None, timeout=10000)
    default_first = window.slice_view.width_level
    window.slice_view.apply_preset("CT lung")
    assert window.slice_view.width_level == (1500.0, -600.0)
    show(second)
    assert window.slice_view.width_level != (1500.0, -600.0)  # not carried to the next
    assert window.slice_view.preset_box.currentText() != "CT lung"
    show(first)
    assert window.slice_view.width_level == (1500.0, -600.0)  # kept for its own item
    other = make_volume_project(tmp_path / "other", n=4, unlabelled=0)
    window.set_project(other)
    qtbot.waitUntil(lambda: window.slice_view.image is not None, timeout=10000)
    assert window.slice_view.width_level != (1500.0, -600.0)  # nor to the next project
    assert default_first != (1500.0, -600.0)


def test_the_probability_column_shows_its_whole_value(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    """It was cut to "0.9" (a fixed 44 px); here with a user's larger font."""
    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication, QStyle

    from medview.ui.browser import COL_PROB, BrowserWidget

    app = QApplication.instance()
    old = app.font()
    app.setFont(QFont(old.family(), 14))
    try:
        browser = BrowserWidget()
        qtbot.addWidget(browser)
        table = browser.table
        margin = 2 * (table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 1)
        need = table.fontMetrics().horizontalAdvance("0.96") + margin
        assert table.horizontalHeader().sectionSize(COL_PROB) >= need
    finally:
        app.setFont(old)
