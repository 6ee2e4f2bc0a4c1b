"""Progressive display of a DICOM series in the window: the slice on screen first, the rest
in the background; moving away cancels the decode."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from medview.core.project import Project
from medview.io import dicom_volume

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import dicom_synth  # noqa: E402

SLICES = 21


def add_series(project: Project, folder: Path) -> int:
    from medview.io.readers import scan

    found = scan(folder).found[0]
    return project.add_item(
        name=found.name,
        kind=found.kind,
        reader=found.reader,
        paths=found.paths,
        shape=found.shape,
        spacing=found.spacing,
        content_hash=found.content_hash,
        size_bytes=found.size_bytes,
    )


def expected_slice(path: Path) -> np.ndarray:
    import pydicom

    ds = pydicom.dcmread(path)
    return ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)


@pytest.fixture
def gate(monkeypatch):  # noqa: ANN001, ANN201
    """Holds every slice after the first decoded one until released (a slow decode)."""
    release = threading.Event()
    original = dicom_volume.SeriesDecoder._decode_slot
    first_done: set[int] = set()

    def slow(self, index):  # noqa: ANN001, ANN202
        if id(self) in first_done:
            release.wait(20)
        first_done.add(id(self))
        return original(self, index)

    monkeypatch.setattr(dicom_volume.SeriesDecoder, "_decode_slot", slow)
    yield release
    release.set()


@pytest.fixture
def series_project(tmp_path: Path) -> tuple[Project, list[Path], list[Path]]:
    proj = Project.create(tmp_path / "p.medview", ["WT", "MUT"])
    a = dicom_synth.write_series(tmp_path / "a", "jpeg_lossless_sv1", SLICES, 64)
    b = dicom_synth.write_series(tmp_path / "b", "jpeg_lossless_sv1", SLICES, 64)
    add_series(proj, tmp_path / "a")
    add_series(proj, tmp_path / "b")
    yield proj, a, b
    proj.close()


def open_window(qtbot, project: Project):  # noqa: ANN001, ANN201
    from medview.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.imageShown, timeout=20000):
        window.set_project(project)
        window.show()
    return window


def test_partly_decoded_series_shows_the_right_slice(qtbot, series_project, gate) -> None:  # noqa: ANN001
    project, paths, _ = series_project
    window = open_window(qtbot, project)
    view = window.slice_view
    series = view.progressive
    assert series is not None and not series.complete  # shown while the rest waits
    middle = SLICES // 2
    assert view.index == middle and series.is_decoded(middle)
    assert series.done_count == 1
    shown = view.image_item.image
    np.testing.assert_array_equal(shown, expected_slice(paths[middle]))
    assert view.decoded_bar.isVisible() and view.decoded_bar.ranges() == [(middle, middle)]
    assert not view.is_waiting()
    # The slice readout works on the partial volume: a decoded slice gives its value.
    view.set_slice(middle + 3)  # not decoded yet: it says so and becomes the next one
    assert view.is_waiting() and "Decoding slice" in view.overlay.text()
    view.set_axis(1)  # coronal waits for the whole volume, saying so
    assert view.is_waiting() and "waiting for the whole series" in view.overlay.text()
    view.set_axis(0)
    gate.set()
    qtbot.waitUntil(lambda: view.progressive is None, timeout=20000)  # the final Image
    assert not view.is_waiting() and not view.decoded_bar.isVisible()
    assert view.index == middle + 3
    np.testing.assert_array_equal(view.image_item.image, expected_slice(paths[middle + 3]))
    item_id = project.items()[0].id
    qtbot.waitUntil(lambda: window.loader.cache.get(item_id) is not None, timeout=5000)
    assert window.loader.cache.get(item_id) is view.image  # the final one, cached once


def test_scrolling_to_an_undecoded_slice_decodes_it_next(qtbot, series_project, gate) -> None:  # noqa: ANN001
    project, paths, _ = series_project
    window = open_window(qtbot, project)
    view = window.slice_view
    series = view.progressive
    decoder = series.decoder
    qtbot.waitUntil(lambda: decoder._threads and decoder._active == len(decoder._threads))
    taken: list[int] = []
    original = series.decoder._take
    series.decoder._take = lambda: (lambda i: taken.append(i) or i)(original())  # type: ignore[method-assign]
    view.set_slice(2)
    gate.set()
    qtbot.waitUntil(lambda: view.progressive is None, timeout=20000)
    # The threads waiting at the gate took their slice before the scroll; the next slice any
    # thread takes is the one scrolled to.
    assert taken[0] == 2, taken
    np.testing.assert_array_equal(view.image_item.image, expected_slice(paths[2]))


def test_moving_to_another_item_cancels_the_partial_decode(qtbot, series_project, gate) -> None:  # noqa: ANN001
    project, _, paths_b = series_project
    window = open_window(qtbot, project)
    first = window.slice_view.progressive
    assert first is not None and not first.complete
    second_id = project.items()[1].id
    with qtbot.waitSignal(window.imageShown, timeout=20000):
        window.browser.select_item(second_id)
    assert first.cancelled
    assert window.loader.series_for(project.items()[0].id) is None
    gate.set()
    assert first.decoder.wait(10)
    assert first.done_count < SLICES  # the rest of the first series was never decoded
    assert window.loader.cache.get(project.items()[0].id) is None  # nothing partial cached
    # The item now on screen still completes.
    view = window.slice_view
    qtbot.waitUntil(lambda: view.progressive is None, timeout=20000)
    np.testing.assert_array_equal(view.image_item.image, expected_slice(paths_b[view.index]))
