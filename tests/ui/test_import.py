"""Dropping files and folders on the window imports them; bad files are listed, not fatal."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from projects import add_file, write_nifti, write_png
from projects import describe_file as _fallback_read
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QDialog

from medview.core.project import Project
from medview.io.import_report import ImportedItem, ImportReport
from medview.io.scanning import Skipped
from medview.ui.main_window import MainWindow


def fake_import_sources(project, sources, *, progress=None, cancel=None, **_options):  # noqa: ANN001, ANN201
    """The importer's contract (an ImportReport), reading only what the fixture writes."""
    files = sorted(
        p
        for s in sources
        for p in ([Path(s)] if Path(s).is_file() else Path(s).rglob("*"))
        if p.is_file()
    )
    report = ImportReport()
    for done, path in enumerate(files):
        if cancel and cancel():
            break
        try:
            image = _fallback_read(str(path))
        except Exception as exc:  # noqa: BLE001 - the fake skips anything unreadable
            report.skipped.append(Skipped(str(path), f"cannot read: {exc}"))
        else:
            reader = "nifti" if path.name.endswith(".nii.gz") else "raster"
            item_id = add_file(project, path, image, reader)
            report.imported.append(ImportedItem(item_id, path.name, None, str(path)))
        if progress:
            progress(done + 1, len(files), path.name)
    return report


@pytest.fixture(params=["fake", "real"])
def importer(request, monkeypatch):  # noqa: ANN001, ANN201
    if request.param == "real":
        pytest.importorskip("medview.io.importer")
        pytest.importorskip("medview.io.readers")
        return "real"
    module = types.ModuleType("medview.io.importer")
    module.import_sources = fake_import_sources
    monkeypatch.setitem(sys.modules, "medview.io.importer", module)
    return "fake"


def drop_folder(qtbot, window: MainWindow, paths: list[Path], monkeypatch) -> object:  # noqa: ANN001
    monkeypatch.setattr(
        "medview.ui.window_import.ImportOptionsDialog.exec",
        lambda self: QDialog.DialogCode.Accepted,
    )
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.importFinished, timeout=30000) as blocker:
        window.dropEvent(event)
    return blocker.args[0]


def make_drop_folder(root: Path, corrupt: bool) -> Path:
    folder = root / "dropped"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    write_nifti(folder / "a.nii.gz", rng.normal(0, 1, (6, 20, 20)).astype(np.float32), (2, 1, 1))
    write_png(folder / "sub" / "b.png", rng.integers(0, 255, (20, 30), dtype=np.uint8))
    write_png(folder / "sub" / "c.png", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    if corrupt:
        (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return folder


def open_empty(qtbot, tmp_path: Path) -> MainWindow:  # noqa: ANN001
    window = MainWindow()
    qtbot.addWidget(window)
    window.set_project(Project.create(tmp_path / "empty.medview", ["WT", "MUT"]))
    window.show()
    return window


def test_drop_folder_imports(qtbot, tmp_path: Path, importer, monkeypatch) -> None:  # noqa: ANN001
    window = open_empty(qtbot, tmp_path)
    folder = make_drop_folder(tmp_path, corrupt=False)
    report = drop_folder(qtbot, window, [folder], monkeypatch)
    assert len(report.imported) == 3
    assert window.project.item_count() == 3
    assert window.browser.model.rowCount() == 3
    assert window.summary_dialog is not None and window.summary_dialog.isVisible()
    assert not window.summary_dialog.skipped.isVisibleTo(window.summary_dialog)
    qtbot.waitUntil(lambda: window.slice_view.image is not None, timeout=10000)


def test_corrupt_file_is_listed_as_skipped(qtbot, tmp_path: Path, importer, monkeypatch) -> None:  # noqa: ANN001
    window = open_empty(qtbot, tmp_path)
    folder = make_drop_folder(tmp_path, corrupt=True)
    report = drop_folder(qtbot, window, [folder], monkeypatch)
    assert window.project.item_count() == 3
    skipped = [Path(p).name for p, _reason in report.skipped]
    assert skipped == ["broken.png"]
    table = window.summary_dialog.skipped
    assert table.rowCount() == 1
    assert table.item(0, 0).text().endswith("broken.png")
    assert table.item(0, 1).text()  # a reason is given
    assert "broken.png" in window.summary_dialog.text()
    assert window.isVisible()  # no crash


def test_cancel_keeps_what_was_imported(qtbot, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    def slow_import(*args, progress=None, **kwargs):  # noqa: ANN002, ANN003, ANN202
        def slow_progress(*values: object) -> None:
            time.sleep(0.3)  # each file takes a while, so cancel lands before the last
            if progress:
                progress(*values)

        return fake_import_sources(*args, progress=slow_progress, **kwargs)

    module = types.ModuleType("medview.io.importer")
    module.import_sources = slow_import
    monkeypatch.setitem(sys.modules, "medview.io.importer", module)
    window = open_empty(qtbot, tmp_path)
    folder = make_drop_folder(tmp_path, corrupt=False)
    monkeypatch.setattr(
        "medview.ui.window_import.ImportOptionsDialog.exec",
        lambda self: QDialog.DialogCode.Accepted,
    )
    runner = window.import_paths([str(folder)])
    with qtbot.waitSignal(window.importFinished, timeout=30000):
        runner.cancel()
    assert window.summary_dialog.windowTitle() == "Import cancelled"
    assert window.project.item_count() < 3


def test_relink_moved_files(qtbot, data_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("medview.io.relink")
    from medview.io.importer import import_sources
    from medview.ui import menus

    project = Project.create(tmp_path / "moving.medview", ["WT", "MUT"])
    imported = len(import_sources(project, [data_dir]).imported)
    moved = tmp_path / "moved"
    data_dir.rename(moved)
    window = MainWindow()
    qtbot.addWidget(window)
    window.set_project(project)
    assert len(project.missing_items()) == imported > 0
    with qtbot.waitSignal(window.relinked, timeout=30000) as blocker:
        menus.relink_missing(window, str(moved))
    assert blocker.args == [imported]
    assert project.missing_items() == []


def test_a_filter_stays_in_its_project_and_an_import_it_hides_is_announced(
    qtbot,  # noqa: ANN001
    tmp_path: Path,
    importer,  # noqa: ANN001
    monkeypatch,  # noqa: ANN001
) -> None:
    """Issue 26: the example's confusion-cell filter hid a CT project's import, whose list
    said "1 items, 0 shown" while the viewer said "This project has no images yet"."""
    from projects import make_image_project

    from medview.ui.browser_model import ItemFilterProxy

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    example = make_image_project(tmp_path / "example", 6, shape=(16, 16))
    window.set_project(example)
    browser = window.browser
    browser.show_ids([example.items()[0].id], "True WT, predicted MUT (1)")
    assert browser.proxy.rowCount() == 1
    window.set_project(Project.create(tmp_path / "ct.medview", ["WT", "MUT"]))
    assert browser.quick_box.currentData() == ItemFilterProxy.ALL
    titles = [browser.quick_box.itemText(i) for i in range(browser.quick_box.count())]
    assert "True WT, predicted MUT (1)" not in titles

    browser.filter_edit.setText("no name has this")  # a filter made in this project
    drop_folder(qtbot, window, [make_drop_folder(tmp_path, corrupt=False)], monkeypatch)
    assert browser.model.rowCount() == 3 and browser.proxy.rowCount() == 0
    assert browser.hidden_bar.isVisible()
    assert browser.hidden_bar.text == "3 new item(s) hidden by the filter"
    assert "no images yet" not in window.slice_view.overlay.text()
    browser.hidden_bar.buttons["Show"].click()
    assert browser.proxy.rowCount() == 3 and not browser.hidden_bar.isVisible()
    assert browser.current_id() is not None  # the first new item is shown
