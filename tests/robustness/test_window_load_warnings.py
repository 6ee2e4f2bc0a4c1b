"""Issue 10, "load warnings never reach the window": the status bar said 20 slices while 19
were shown, and missing PixelSpacing or "N series: showing the largest" were never said. The
reader's warnings for the current item are in the status bar, and the item in the browser has
a warning icon whose tooltip lists them."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from medview.core.project import Project  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, qapp) -> None:  # noqa: ANN001
    from PySide6.QtCore import QSettings, QStandardPaths

    QStandardPaths.setTestModeEnabled(True)
    folder = tmp_path_factory.mktemp("settings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))


def test_status_bar_and_browser_show_what_the_reader_warned(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    import pydicom
    from io_helpers import write_png, write_series
    from PySide6.QtCore import Qt

    from medview.io.importer import import_sources
    from medview.ui.browser_model import COL_NAME
    from medview.ui.main_window import MainWindow

    paths = write_series(tmp_path / "ct", count=6, size=(8, 8))
    write_png(tmp_path / "plain" / "plain.png", (8, 8))
    project = Project.create(tmp_path / "p", ["WT", "MUT"])
    import_sources(project, [tmp_path / "ct", tmp_path / "plain"])
    series = next(i for i in project.items() if i.reader == "dicom")
    plain = next(i for i in project.items() if i.reader == "raster")
    assert series.shape[0] == 6
    # After the import, one slice is overwritten by another and PixelSpacing goes missing:
    # the reader shows 5 slices and says why.
    shutil.copy(paths[4], paths[5])
    for path in paths:
        dataset = pydicom.dcmread(path)
        del dataset.PixelSpacing
        dataset.save_as(path)

    window = MainWindow()
    qtbot.addWidget(window)
    window.set_project(project)
    window.show()
    if window.browser.current_id() != series.id:
        with qtbot.waitSignal(window.imageShown, timeout=10000):
            window.browser.select_item(series.id)
    # A series is shown while it decodes; the warnings come with the complete volume.
    qtbot.waitUntil(lambda: "5×8×8" in window.statusBar().currentMessage(), timeout=15000)
    status = window.statusBar().currentMessage()  # was: the 6 slices recorded at import
    assert "records 6×8×8" in status
    assert "no PixelSpacing" in status
    assert "same image as" in status
    model = window.browser.model
    index = model.index(model.row_of(series.id), COL_NAME)
    assert not model.data(index, Qt.ItemDataRole.DecorationRole).isNull()  # the icon
    tooltip = model.data(index, Qt.ItemDataRole.ToolTipRole)
    assert "no PixelSpacing" in tooltip and "records 6×8×8" in tooltip
    # A clean item: no icon, no warning in the status bar.
    with qtbot.waitSignal(window.imageShown, timeout=10000):
        window.browser.select_item(plain.id)
    plain_index = model.index(model.row_of(plain.id), COL_NAME)
    assert model.data(plain_index, Qt.ItemDataRole.DecorationRole) is None
    assert "warning" not in window.statusBar().currentMessage()
    # The series keeps its icon after the user moved on.
    assert "no PixelSpacing" in model.data(index, Qt.ItemDataRole.ToolTipRole)
