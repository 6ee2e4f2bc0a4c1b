"""Qt tests run offscreen, with settings in a temporary file and a small fixture project."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from projects import make_fixture_project, write_fixture_files  # noqa: E402

from medview.core.project import Project  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, qapp) -> None:  # noqa: ANN001
    """Never read or write the user's real QSettings."""
    from PySide6.QtCore import QSettings, QStandardPaths

    QStandardPaths.setTestModeEnabled(True)
    folder = tmp_path_factory.mktemp("settings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_fixture_files(tmp_path)


@pytest.fixture
def project(tmp_path: Path, data_dir: Path) -> Project:
    """6 items: 3 volumes (vol0 labelled WT), 2 grey PNGs, 1 RGB PNG."""
    return make_fixture_project(tmp_path, data_dir)
