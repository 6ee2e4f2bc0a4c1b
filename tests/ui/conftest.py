"""Qt tests run offscreen, with settings in a temporary file and a small fixture project."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import hashlib  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from medview.core.image import Image  # noqa: E402
from medview.core.project import Project  # noqa: E402

VOLUME_SHAPE = (12, 40, 32)  # z, y, x
VOLUME_SPACING = (3.0, 0.8, 0.8)


def write_nifti(path: Path, volume: np.ndarray, spacing: tuple[float, float, float]) -> None:
    import nibabel as nib

    affine = np.diag([spacing[2], spacing[1], spacing[0], 1.0])
    nib.save(nib.Nifti1Image(np.transpose(volume, (2, 1, 0)), affine), str(path))


def write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image as PILImage

    PILImage.fromarray(array).save(path)


def _fallback_read(path: str) -> Image:
    """Reads the fixture's own files to describe them (shape, spacing) like an importer;
    the window itself reads them through medview.io."""
    if path.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        nifti = nib.load(path)
        zooms = nifti.header.get_zooms()
        array = np.transpose(np.asarray(nifti.dataobj), (2, 1, 0))
        # Array axes (z, y, x) point along patient z, y, x (direction columns in z, y, x order).
        direction = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)
        return Image(array, (zooms[2], zooms[1], zooms[0]), direction=direction)
    from PIL import Image as PILImage

    array = np.asarray(PILImage.open(path))
    return Image(array[np.newaxis] if array.ndim == 3 else array)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, qapp) -> None:  # noqa: ANN001
    """Never read or write the user's real QSettings."""
    from PySide6.QtCore import QSettings, QStandardPaths

    QStandardPaths.setTestModeEnabled(True)
    folder = tmp_path_factory.mktemp("settings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))


def add_file(
    project: Project, path: Path, image: Image, reader: str, label: str | None = None
) -> int:
    return project.add_item(
        name=path.name,
        kind=image.kind,
        reader=reader,
        paths=[path],
        shape=image.array.shape,
        spacing=image.spacing,
        content_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
        size_bytes=path.stat().st_size,
        label=label,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        volume = rng.normal(40, 20, VOLUME_SHAPE).astype(np.int16)
        volume[:, 10:30, 8:24] += 300  # a bright block: visible contrast
        write_nifti(folder / f"vol{index}.nii.gz", volume, VOLUME_SPACING)
    for index in range(2):
        write_png(folder / f"grey{index}.png", rng.integers(0, 255, (30, 50), dtype=np.uint8))
    rgb = np.zeros((40, 60, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    rgb[10:30, 20:40, 1] = 180
    write_png(folder / "colour.png", rgb)
    return folder


@pytest.fixture
def project(tmp_path: Path, data_dir: Path) -> Project:
    """6 items: 3 volumes (vol0 labelled WT), 2 grey PNGs, 1 RGB PNG."""
    proj = Project.create(tmp_path / "fixture.medview", ["WT", "MUT"])
    for index in range(3):
        path = data_dir / f"vol{index}.nii.gz"
        image = _fallback_read(str(path))
        add_file(proj, path, image, "nifti", label="WT" if index == 0 else None)
    for name in ("grey0.png", "grey1.png", "colour.png"):
        path = data_dir / name
        add_file(proj, path, _fallback_read(str(path)), "raster")
    return proj
