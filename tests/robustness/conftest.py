"""Fixtures for the robustness suite: bad input, crashes, private data, untrusted
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


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """Issue 23's setup: (project folder, image folder), 16 PNGs in A/B imported and the run
    ``base`` finished. Trained once per session; tests add runs of their own beside it."""
    pytest.importorskip("torch")
    from rb_helpers import train_config, write_pngs

    from medview.core.project import Project
    from medview.io.importer import import_sources
    from training.engine.api import run_training

    tmp = tmp_path_factory.mktemp("issue23")
    images = write_pngs(tmp / "images")
    with Project.create(tmp / "P.medview", ["A", "B"]) as p:
        assert len(import_sources(p, [images], label_from="folder").imported) == 16
        folder = p.folder
    outcome = run_training(train_config(folder, run_id="base"))
    assert outcome.status == "finished", outcome.error
    return folder, images
