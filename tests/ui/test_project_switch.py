"""No state leaking between projects (issue 26): the training form's values and the dock's
status lines belong to the project they were set in."""

from __future__ import annotations

from pathlib import Path

from projects import make_image_project, make_volume_project

from medview.ui.main_window import MainWindow
from medview.ui.settings import Settings
from medview.ui.training_presets import AUTO


def test_form_and_status_lines_stay_with_their_project(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    first = make_volume_project(tmp_path / "mouse", n=4, unlabelled=0)
    second = make_image_project(tmp_path / "ct", 6, shape=(16, 16))
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    window.set_project(first)
    panel = window.training_panel
    form = panel.form
    default_epochs = form.editors["epochs"].value()
    form.set_values({"epochs": 1})
    form.changed.emit()
    assert form.preset_box.currentIndex() == -1  # "Custom (edited)"
    panel.session._set_progress(1000, "finished in 1 min 17 s")
    panel.session.status("Grad-CAM of mouse01: P(MUT) 0.66")

    first_folder = first.folder
    window.set_project(second)
    assert form.editors["epochs"].value() == default_epochs != 1
    assert form.preset_box.currentIndex() >= 0 and form.preset_box.currentText() == AUTO
    assert panel.progress.format() == "idle"
    assert "mouse01" not in panel.status.text() and "finished" not in panel.status.text()

    window.open_project(first_folder)  # back: its own form again
    assert window.training_panel.form.editors["epochs"].value() == 1
    assert form.preset_box.currentIndex() == -1
