"""Thumbnails (cached, thread-safe) and re-linking moved data by content hash."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from io_helpers import write_png, write_series

from medview.core.image import Image
from medview.io.importer import import_sources
from medview.io.readers import load_item
from medview.io.relink import relink
from medview.io.thumbnails import make_thumbnail, thumbnail, thumbnail_path


def test_thumbnails_are_cached_and_thread_safe(project, tmp_path: Path) -> None:
    write_series(tmp_path / "data" / "s", 7)
    write_png(tmp_path / "data" / "rgb.png", (40, 20, 3))
    write_png(tmp_path / "data" / "gray.png", (30, 60))
    import_sources(project, [tmp_path / "data"])
    items = project.items()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda it: thumbnail(project, it, 64), items * 3))
    by_name = {it.name: results[i] for i, it in enumerate(items)}
    assert by_name["rgb"].shape == (64, 32, 3) and by_name["rgb"].dtype == np.uint8
    assert by_name["gray"].shape == (32, 64)
    # The series is 24 x 20 pixels of 0.7 x 0.8 mm: physical aspect kept.
    assert by_name["s"].shape == (64, 61)
    for item in items:
        assert thumbnail_path(project, item, 64).is_file()
    again = thumbnail(project, items[0], 64)
    np.testing.assert_array_equal(again, results[0])
    assert not list((project.cache_dir / "thumbs").glob(".*tmp"))


def test_make_thumbnail_of_a_flat_image() -> None:
    thumb = make_thumbnail(Image(np.zeros((3, 10, 10), np.float32)), 16)
    assert thumb.shape == (16, 16) and thumb.dtype == np.uint8


def test_relink_after_the_data_moved(project, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_series(data / "WT" / "s1", 5, seed=1)
    write_png(data / "MUT" / "a.png", (6, 6))
    import_sources(project, [data], label_from="folder")
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    shutil.move(str(data), moved)
    (moved / "MUT" / "a.png").rename(moved / "MUT" / "b.png")
    assert len(project.missing_items()) == 2
    result = relink(project, tmp_path / "elsewhere")
    assert len(result) == 2
    assert project.missing_items() == []
    for item in project.items():
        assert load_item(project, item).shape == tuple(item.shape[:3])
    assert relink(project, tmp_path / "elsewhere") == {}


def test_ct_volume_thumbnail_uses_the_soft_tissue_window() -> None:
    """A HU volume's thumbnail shows soft tissue in grey, not everything above air as white."""
    from medview.core.image import Image
    from medview.io.thumbnails import make_thumbnail

    volume = np.full((8, 32, 32), -1000, dtype=np.int16)
    volume[:, 8:24, 8:24] = 40  # soft tissue at the window level
    volume[4, 14:18, 14:18] = 300  # a bright inclusion
    thumb = make_thumbnail(Image(volume), size=32)
    assert thumb[0, 0] == 0  # air is black
    assert 100 < int(thumb[10, 10]) < 160  # soft tissue is mid-grey, not white
    assert thumb[16, 16] > 240  # the inclusion stands out
