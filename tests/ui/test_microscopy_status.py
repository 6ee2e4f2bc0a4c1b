"""The status bar shows a microscope item's spacing in µm (it is stored in mm)."""

from __future__ import annotations

import numpy as np

from medview.core.image import Image
from medview.core.project import Item
from medview.ui.item_status import status_text


def _item(meta: dict) -> Item:
    return Item(
        id=1,
        name="cells — Image:0",
        kind="3d",
        reader="bioimage",
        paths=["/data/cells.ome.tiff"],
        rel_paths=[],
        shape=(3, 16, 20, 2),
        spacing=(0.002, 0.000325, 0.000325),
        size_bytes=0,
        content_hash="x",
        meta=meta,
    )


def test_microscopy_spacing_and_channels_read_in_micrometres() -> None:
    image = Image(
        np.zeros((3, 16, 20, 2), np.uint16),
        spacing=(0.002, 0.000325, 0.000325),
        channel_names=("DAPI", "GFP"),
    )
    text = status_text(_item({"microscopy": True}), image, [])
    assert "spacing 2×0.325×0.325 µm" in text and "2 ch (DAPI, GFP)" in text


def test_other_items_keep_millimetres() -> None:
    text = status_text(_item({}), None, [])
    assert "spacing 0.002×0.000325×0.000325 mm" in text
