"""The core image: any number of named channels, and a lazy array read one plane at a time."""

from __future__ import annotations

import numpy as np
import pytest

from medview.core.display import channel_composite
from medview.core.image import Image, PlaneArray


def test_named_channels_may_be_any_number_and_are_not_colour() -> None:
    image = Image(np.zeros((2, 4, 5, 5), np.uint16), channel_names=("a", "b", "c", "d", "e"))
    assert image.channels == 5 and image.shape == (2, 4, 5) and not image.is_rgb
    three = Image(np.zeros((1, 4, 5, 3), np.uint16), channel_names=("DAPI", "GFP", "RFP"))
    assert not three.is_rgb  # three fluorescence channels, not a photo
    assert Image(np.zeros((1, 4, 5, 3), np.uint8)).is_rgb  # unnamed: colour, as before


def test_unnamed_odd_channel_counts_and_wrong_name_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        Image(np.zeros((1, 4, 5, 5)))
    with pytest.raises(ValueError, match="2 channel names for 3"):
        Image(np.zeros((1, 4, 5, 3)), channel_names=("a", "b"))


def test_a_lazy_image_reads_only_the_plane_shown() -> None:
    volume = np.arange(6 * 4 * 5, dtype=np.float32).reshape(6, 4, 5)
    reads: list[int] = []

    def read_plane(z: int) -> np.ndarray:
        reads.append(z)
        return volume[z]

    image = Image(PlaneArray(volume.shape, volume.dtype, read_plane), spacing=(2, 1, 1))
    assert image.is_lazy and image.shape == (6, 4, 5) and reads == []
    np.testing.assert_array_equal(image.plane(4), volume[4])
    np.testing.assert_array_equal(image.middle_slice(), volume[3])
    assert reads == [4, 3]
    loaded = image.loaded()
    assert not loaded.is_lazy and loaded.spacing == (2.0, 1.0, 1.0)
    np.testing.assert_array_equal(loaded.array, volume)


def test_the_channel_composite_gives_each_channel_its_colour() -> None:
    plane = np.zeros((4, 4, 2), np.uint16)
    plane[:2, :, 0] = 1000  # channel 1 (green) top half
    plane[2:, :, 1] = 1000  # channel 2 (magenta) bottom half
    rgb = channel_composite(plane)
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (0, 255, 0) and tuple(rgb[3, 0]) == (255, 0, 255)
