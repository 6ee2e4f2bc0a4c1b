"""Fuzz: whatever bytes a file holds, read_image and scan answer with ReadError or an image,
never another exception (no traceback ever reaches a user)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from io_helpers import nibabel_file, pydicom_file, write_png

from medview.core.errors import ReadError
from medview.io.readers import read_image, scan

SUFFIXES = [".dcm", ".nii", ".nii.gz", ".png", ".jpg", ".bmp", ".tif", ".npy", ".npz", ""]


def _seeds() -> dict[str, bytes]:
    """Valid files of each kind, to mutate (random bytes alone rarely get past a header)."""
    import io

    import tifffile

    seeds = {
        ".dcm": pydicom_file("MR_small.dcm").read_bytes(),
        ".nii": nibabel_file("anatomical.nii").read_bytes()[:20000],
    }
    with tempfile.TemporaryDirectory() as temp:
        seeds[".png"] = write_png(Path(temp) / "a.png", (12, 10)).read_bytes()
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, np.arange(60, dtype=np.uint16).reshape(3, 4, 5))
        seeds[".tif"] = buffer.getvalue()
        buffer = io.BytesIO()
        np.save(buffer, np.ones((4, 4), np.uint8))
        seeds[".npy"] = buffer.getvalue()
    return seeds


SEEDS = _seeds()


def _check(path: Path) -> None:
    try:
        read_image(path)
    except ReadError as exc:
        assert exc.path and exc.reason
    result = scan(path)
    assert len(result.found) + len(result.skipped) >= 0  # scan itself never raises


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(min_size=0, max_size=600))
def test_random_bytes_only_raise_read_error(suffix: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / f"file{suffix}"
        path.write_bytes(data)
        _check(path)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    suffix=st.sampled_from(sorted(SEEDS)),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=8),
)
def test_mutated_valid_files_only_raise_read_error(suffix: str, cut: float, flips) -> None:
    data = bytearray(SEEDS[suffix])
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    data = data[: max(1, int(len(data) * (0.2 + 0.8 * cut)))]
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / f"file{suffix}"
        path.write_bytes(bytes(data))
        _check(path)
