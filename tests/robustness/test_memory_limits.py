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
        [sys.executable, "-m", "medview", "train", str(folder), *TINY_TRAIN, "--size", "64"],
        capture_output=True,
        text=True,
        env=cli_env(MEDVIEW_TRAIN_MEMORY_MB="1"),
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("medview:")]
    assert len(errors) == 1 and "GiB of memory" in errors[0], done.stderr
