"""Fixtures for the robustness suite (issue 7): bad input, crashes, private data, untrusted
files, storage. Generated data only, plus the broken files pydicom and nibabel ship."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def project(tmp_path: Path):
    from medview.core.project import Project

    proj = Project.create(tmp_path / "proj", classes=["WT", "MUT"])
    yield proj
    proj.close()
