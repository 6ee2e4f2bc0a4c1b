"""The training form's manners (issue 26): slice mode in words with the number as a field,
and a mouse wheel that scrolls the dock instead of changing the field under the pointer."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from medview.ui.training_form import TrainingForm


def test_slice_mode_offers_words_and_a_number(qtbot) -> None:  # noqa: ANN001
    form = TrainingForm()
    qtbot.addWidget(form)
    slices = form.editors["slices"]
    texts = [slices.box.itemText(i) for i in range(slices.box.count())]
    assert texts[0] == "every slice with content" and not any(":N" in t for t in texts)
    form.set_values({"kind": "slices", "slices": "middle:12"})
    assert slices.box.currentData() == "middle" and slices.count.value() == 12
    assert slices.count.isEnabled()
    slices.count.setValue(5)
    assert form.config()["slices"] == "middle:5"
    slices.box.setCurrentIndex(slices.box.findData("key"))
    assert form.config()["slices"] == "key" and not slices.count.isEnabled()


def _wheel(widget, notches: int = -3) -> None:  # noqa: ANN001
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_dock_not_an_unfocused_field(qtbot, tmp_path) -> None:  # noqa: ANN001
    from projects import make_image_project

    from medview.ui.main_window import MainWindow
    from medview.ui.settings import Settings

    window = MainWindow(Settings())
    qtbot.addWidget(window)
    window.show()
    window.set_project(make_image_project(tmp_path, 6, shape=(16, 16)))
    panel = window.training_panel
    panel.form.show_field("epochs")  # a long form: the dock scrolls
    spin = panel.form.epochs_spin
    qtbot.waitUntil(spin.isVisible)
    before = spin.value()
    _wheel(spin)
    assert spin.value() == before  # scrolling past it did not change "Epochs"
    model_box = panel.form.model_box
    index = model_box.currentIndex()
    _wheel(model_box)
    assert model_box.currentIndex() == index
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    _wheel(spin, notches=1)
    assert spin.value() != before  # once focused, the wheel is the user's to use
