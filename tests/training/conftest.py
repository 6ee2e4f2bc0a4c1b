"""Fixtures for the training tests (synthetic projects live in tests/projects.py)."""

from __future__ import annotations

import pytest
import torch
from projects import make_project
from synth import _fallback_read

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _reader_fallback(monkeypatch):
    try:
        from medview.io.readers import load_item  # noqa: F401
    except ImportError:
        import training.data

        monkeypatch.setattr(training.data, "_read_item", _fallback_read)
    yield


@pytest.fixture
def project3d(tmp_path):
    p = make_project(tmp_path, 24)
    yield p
    p.close()
