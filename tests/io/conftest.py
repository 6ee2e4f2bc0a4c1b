"""Fixtures for the io tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# --import-mode=importlib does not put test folders on sys.path; io_helpers lives here.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def project(tmp_path: Path):
    from medview.core.project import Project

    proj = Project.create(tmp_path / "proj", classes=["WT", "MUT"])
    yield proj
    proj.close()
