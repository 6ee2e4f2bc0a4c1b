"""Fixtures for the robustness suite (issue 7): bad input, crashes, private data, untrusted
files, storage. Generated data only, plus the broken files pydicom and nibabel ship."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# --import-mode=importlib puts no test folder on sys.path: our helpers and tests/io's
# generators (io_helpers: DICOM series, PNGs) are imported by name.
for folder in (HERE, HERE.parent / "io"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


@pytest.fixture
def project(tmp_path: Path):
    from medview.core.project import Project

    proj = Project.create(tmp_path / "proj", classes=["WT", "MUT"])
    yield proj
    proj.close()
