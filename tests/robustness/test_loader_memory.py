"""Moving to the next item while its read-ahead is still decoding must not decode it a
second time: that doubled the wait and held an extra copy of the volume (bench/scale.py:
with a 300 MiB CT on screen, three volumes in memory)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")

from medview.core.image import Image  # noqa: E402
from medview.core.project import Project  # noqa: E402


def test_a_request_waits_for_the_read_ahead_of_the_same_item(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medview.ui import loader as loader_module

    calls: list[int] = []
    lock = threading.Lock()

    def slow_load(project: Project, item) -> Image:  # noqa: ANN001
        with lock:
            calls.append(item.id)
        time.sleep(0.3)
        return Image(np.zeros((2, 4, 4), np.int16))

    monkeypatch.setattr(loader_module, "load", slow_load)
    with Project.create(tmp_path / "p") as project:
        for k in range(2):
            project.add_item(
                name=f"v{k}",
                kind="3d",
                reader="nifti",
                paths=[tmp_path / f"v{k}.nii"],
                shape=(2, 4, 4),
                spacing=(1, 1, 1),
                content_hash=f"h{k}",
            )
        first, second = project.items()
        loader = loader_module.ItemLoader()
        loader.prefetch(project, second)
        with qtbot.waitSignal(loader.loaded, timeout=5000) as shown:
            assert loader.request(project, second) is False
        assert shown.args[0].id == second.id
        assert calls == [second.id]  # decoded once
        assert loader.cache.get(second.id) is not None
        # A request that moved on before the read-ahead finished is not answered by it.
        loader.prefetch(project, first)
        with qtbot.waitSignal(loader.loaded, timeout=5000) as shown:
            loader.request(project, first)
        assert shown.args[0].id == first.id and calls.count(first.id) == 1
        loader.wait()
