"""The disk cache budget: least recently used entries go first, the current run's never."""

from __future__ import annotations

import os
from pathlib import Path

from medview.core.disk_cache import MARKER, budget_bytes, prune


def entry(folder: Path, digit: str) -> Path:
    """A tensor cache entry as medview names it: ``ab/ab…(40 hex).npy``."""
    key = digit * 40
    return folder / key[:2] / f"{key}.npy"


def write(path: Path, size: int, age: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (1_000_000 + age, 1_000_000 + age))
    return path


def test_prune_removes_oldest_until_under_budget_and_keeps_protected(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text("medview cache")
    oldest = write(entry(tmp_path, "1"), 1000, age=1)
    protected = write(entry(tmp_path, "2"), 1000, age=2)
    middle = write(entry(tmp_path, "3"), 1000, age=3)
    newest = write(entry(tmp_path, "4"), 1000, age=4)
    freed = prune(tmp_path, 2000, keep=[protected])
    assert freed == 2000
    assert not oldest.exists() and not middle.exists()
    assert protected.exists() and newest.exists()


def test_no_budget_means_no_pruning(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / MARKER).write_text("medview cache")
    kept = write(entry(tmp_path, "1"), 5000, age=1)
    assert prune(tmp_path, 0) == 0 and kept.exists()
    monkeypatch.setenv("MEDVIEW_TENSOR_CACHE_MB", "0")
    assert budget_bytes("MEDVIEW_TENSOR_CACHE_MB", 8192) == 0
    monkeypatch.setenv("MEDVIEW_TENSOR_CACHE_MB", "3")
    assert budget_bytes("MEDVIEW_TENSOR_CACHE_MB", 8192) == 3 * 1024 * 1024


def test_a_folder_without_medviews_marker_is_never_pruned(tmp_path: Path) -> None:
    old = write(entry(tmp_path, "1"), 5000, age=1)
    assert prune(tmp_path, 1) == 0 and old.exists()
