"""Memory for decoded volumes and caches is bounded and configurable: the window's image
cache (MEDVIEW_IMAGE_CACHE_MB), the training tensors (MEDVIEW_TRAIN_MEMORY_MB) and the voxel
ceiling for any one image (MEDVIEW_MAX_VOXELS). The measured figures for a 512x512x600 volume
and a 5,000-item project are in bench/scale.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rb_helpers import REPO, cli_env

from medview.core.image import Image


def test_image_cache_is_bounded_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("PySide6")
    from medview.ui.image_cache import ImageCache

    monkeypatch.setenv("MEDVIEW_IMAGE_CACHE_MB", "3")
    cache = ImageCache()
    assert cache.max_bytes == 3 * 1024 * 1024
    for n in range(10):
        cache.put(n, Image(np.zeros((4, 256, 256), np.int16)))  # 512 KiB each
        assert cache.total_bytes() <= cache.max_bytes
    assert cache.get(9) is not None and cache.get(0) is None  # least recently used went
    # One image larger than the whole budget is still shown (kept alone).
    cache.put(99, Image(np.zeros((8, 512, 512), np.int16)))
    assert list(cache._images) == [99]
    monkeypatch.setenv("MEDVIEW_IMAGE_CACHE_MB", "not a number")
    assert ImageCache().max_bytes == 768 * 1024 * 1024


def test_training_tensors_over_the_limit_are_refused_before_allocating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    from test_crash import TINY_TRAIN, _training_project

    from training.data import DataError, check_memory, memory_limit
    from training.transforms import PrepSettings

    assert memory_limit() is None or memory_limit() > 0
    monkeypatch.setenv("MEDVIEW_TRAIN_MEMORY_MB", "1")
    with pytest.raises(DataError, match="MEDVIEW_TRAIN_MEMORY_MB"):
        check_memory(100, PrepSettings(3, 96, 1))  # 100 x 96^3 float32 = 337 MiB
    check_memory(10, PrepSettings(3, 16, 1))  # 160 KiB: fine
    folder = _training_project(tmp_path)
    done = subprocess.run(
        # --data memory: the default (auto) would stream this set from a disk cache instead
        [sys.executable, "-m", "medview", "train", str(folder), *TINY_TRAIN, "--size", "64"]
        + ["--data", "memory"],
        capture_output=True,
        text=True,
        env=cli_env(MEDVIEW_TRAIN_MEMORY_MB="1"),
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("medview:")]
    assert len(errors) == 1 and "GiB of memory" in errors[0], done.stderr


@pytest.mark.parametrize(
    ("dtype", "scaled", "four_d", "big_endian"),
    [
        (np.int16, False, False, False),
        (np.uint8, False, True, False),
        (np.float32, False, False, False),
        (np.int16, True, False, False),  # scl_slope: nibabel's own path
        (np.int16, False, False, True),  # foreign byte order: nibabel's own path
    ],
)
def test_nii_gz_decodes_into_one_array_and_matches_nibabel(
    tmp_path: Path, dtype: type, scaled: bool, four_d: bool, big_endian: bool
) -> None:
    """The .nii.gz reader's peak is about one volume (nibabel's own: two), same values."""
    import tracemalloc

    import nibabel as nib

    from medview.io.nifti import read_nifti

    rng = np.random.default_rng(0)
    shape = (64, 48, 40, 2) if four_d else (64, 48, 40)
    data = (rng.random(shape) * 100).astype(dtype)
    if big_endian:
        data = data.astype(np.dtype(dtype).newbyteorder(">"))
    image = nib.Nifti1Image(data, np.diag([0.5, 0.6, 2.0, 1]))
    if scaled:
        image.header.set_slope_inter(2.0, -5.0)
    path = tmp_path / "v.nii.gz"
    nib.save(image, path)
    expected = np.asanyarray(nib.load(path).dataobj)
    if four_d:
        expected = expected[..., 0]
    tracemalloc.start()
    try:
        array = read_nifti(path).array
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    want = np.transpose(expected, (2, 1, 0))
    if want.dtype == np.float64:
        want = want.astype(np.float32)
    np.testing.assert_array_equal(array, want)
    if not (scaled or big_endian):
        assert peak < 1.3 * array.nbytes + 4 * 1024 * 1024, (peak, array.nbytes)
