"""The bundled example: a small synthetic labelled project a new user can click at once.

40 volumes (WT / MUT: MUT carries a brighter, larger inclusion, with enough noise that the
difference is visible but not trivial) and 40 colour 2D "microscopy" images (MUT cells are
elongated). Everything is generated from a fixed seed, so no data ships in the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from medview.core.project import Project

if TYPE_CHECKING:
    import numpy as np

# Where ``medview demo`` and the welcome screen's example write the project (once). numpy is
# imported inside the functions so that the CLI, which reads this path, starts without it.
DEFAULT_DEMO_PATH = Path.home() / "medview-example.medview"

VOLUME_SHAPE = (24, 48, 48)  # z, y, x
VOLUME_SPACING = (2.0, 1.0, 1.0)  # mm: anisotropic on purpose, like most clinical series
IMAGE_SIZE = 64


def create_demo_project(
    path: str | Path, n_volumes: int = 40, n_images: int = 40, seed: int = 7
) -> Project:
    """Write the example data inside the project folder, import it, return the open project."""
    import numpy as np

    from medview.io.importer import import_sources

    project = Project.create(path, ["WT", "MUT"], name="medview example")
    data = project.folder / "example-data"
    rng = np.random.default_rng(seed)
    for index in range(n_volumes):
        cls = "MUT" if index % 2 else "WT"
        _write_volume(data / "volumes" / cls / f"mouse{index:02d}.nii.gz", cls == "MUT", rng)
    for index in range(n_images):
        cls = "MUT" if index % 2 else "WT"
        _write_cells(data / "images" / cls / f"cells{index:02d}.png", cls == "MUT", rng)
    report = import_sources(project, [data], label_from="folder")
    if report.skipped:  # would be a bug in this module: say so rather than hide it
        raise RuntimeError(f"example data failed to import: {report.skipped[:3]}")
    return project


def _write_volume(path: Path, mutant: bool, rng: np.random.Generator) -> None:
    import nibabel as nib
    import numpy as np

    z, y, x = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in VOLUME_SHAPE], indexing="ij")
    # Physical coordinates (mm) from the centre, so the shapes are round in the real world.
    zc = (z - VOLUME_SHAPE[0] / 2) * VOLUME_SPACING[0]
    yc = (y - VOLUME_SHAPE[1] / 2) * VOLUME_SPACING[1]
    xc = (x - VOLUME_SHAPE[2] / 2) * VOLUME_SPACING[2]
    body = (xc / 20) ** 2 + (yc / 16) ** 2 + (zc / 20) ** 2 <= 1.0
    volume = np.where(body, 40.0, -900.0) + rng.normal(0, 25, VOLUME_SHAPE)
    offset = rng.uniform(-5, 5, 3)
    # Overlapping ranges: most MUT inclusions are larger and brighter, but not all of them,
    # so a classifier has something to learn and no reason to be perfect. An item is ambiguous
    # only when both its radius and its contrast lie where the classes overlap (4.5-6 mm,
    # 100-110): 8.6 % of MUT and 8.3 % of WT items, so the best possible accuracy is about 0.96.
    # (With MUT contrasts 80-140 it was 0.89: below the 0.90 the quick check must show.)
    radius = rng.uniform(4.5, 8.0) if mutant else rng.uniform(3.0, 6.0)
    contrast = rng.uniform(100, 150) if mutant else rng.uniform(50, 110)
    inclusion = (zc - offset[0]) ** 2 + (yc - offset[1]) ** 2 + (xc - offset[2]) ** 2 <= radius**2
    volume += np.where(inclusion, contrast, 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    # nibabel wants (x, y, z); the affine carries the spacing.
    affine = np.diag([VOLUME_SPACING[2], VOLUME_SPACING[1], VOLUME_SPACING[0], 1.0])
    nifti = nib.Nifti1Image(np.transpose(volume, (2, 1, 0)).astype(np.int16), affine)
    nifti.header.set_xyzt_units("mm")
    nib.save(nifti, str(path))


def _write_cells(path: Path, mutant: bool, rng: np.random.Generator) -> None:
    import numpy as np
    from PIL import Image as PILImage

    size = IMAGE_SIZE
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    red = rng.normal(20, 6, (size, size))
    green = rng.normal(25, 6, (size, size))
    blue = rng.normal(30, 6, (size, size))
    for _ in range(rng.integers(4, 7)):
        cy, cx = rng.uniform(8, size - 8, 2)
        angle = rng.uniform(0, np.pi)
        long_axis = rng.uniform(6, 10) if mutant else rng.uniform(4.5, 7)
        short_axis = rng.uniform(3, 4.5) if mutant else rng.uniform(4, 5.5)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        cell = (u / long_axis) ** 2 + (v / short_axis) ** 2 <= 1.0
        nucleus = (u / (long_axis * 0.45)) ** 2 + (v / (short_axis * 0.45)) ** 2 <= 1.0
        green += np.where(cell, 120, 0)
        blue += np.where(nucleus, 160, 0)
        red += np.where(cell & ~nucleus, 40 if mutant else 15, 0)
    rgb = np.clip(np.stack([red, green, blue], axis=-1), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(rgb, mode="RGB").save(path)
