"""Generated projects for the tests: the one place that writes synthetic images and volumes
and registers them in a new project (no network, no shipped data).

- ``make_project``: cubic volumes or square PNGs whose classes differ by a bright blob
  (learnable in a few epochs), with optional test split, groups, unlabelled items and
  duplicates: the engine tests' project.
- ``make_volume_project``: non-cubic volumes (``SHAPE``), so resampling back to the item is
  exercised: the window's training tests.
- ``make_image_project``: non-square grey PNGs: the window's 2D tests.
- ``make_slice_project``: NIfTI volumes with empty (air) slices around their content and
  patients of several volumes: slice mode's tests (a 2D model on the slices of volumes).
- ``write_fixture_files`` + ``make_fixture_project``: the window tests' mixed project (three
  volumes, grey and colour PNGs), with ``add_file`` / ``describe_file`` to add more.

Spawned workers import this module by name too (pytest's ``pythonpath`` puts tests/ on
sys.path, and spawn copies it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from medview.core.image import Image
from medview.core.project import Project


def _volume(rng: np.random.Generator, positive: bool, size: int) -> np.ndarray:
    vol = rng.normal(0, 1, (size, size, size)).astype(np.float32)
    if positive:
        c = rng.integers(size // 4, size - size // 4, 3)
        r = max(2, size // 6)
        vol[c[0] - r : c[0] + r, c[1] - r : c[1] + r, c[2] - r : c[2] + r] += 4.0
    return vol


def _image(rng: np.random.Generator, positive: bool, size: int) -> np.ndarray:
    img = rng.normal(100, 20, (size, size))
    if positive:
        c = rng.integers(size // 4, size - size // 4, 2)
        r = max(3, size // 6)
        img[c[0] - r : c[0] + r, c[1] - r : c[1] + r] += 100
    return np.clip(img, 0, 255).astype(np.uint8)


def make_project(
    tmp: Path,
    n: int = 24,
    *,
    kind: str = "3d",
    size: int = 16,
    classes: tuple[str, ...] = ("WT", "MUT"),
    groups: int | None = None,
    test: int = 0,
    unlabelled: int = 0,
    duplicates: int = 0,
    seed: int = 0,
) -> Project:
    """A project of ``n`` labelled items (classes alternate), ``test`` more marked test,
    ``unlabelled`` more without labels and ``duplicates`` exact copies of labelled items."""
    import nibabel as nib
    from PIL import Image as PILImage

    rng = np.random.default_rng(seed)
    project = Project.create(tmp / "p", list(classes))
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    paths: list[tuple[Path, str]] = []
    total = n + test + unlabelled
    for k in range(total):
        cls = k % len(classes)
        positive = cls > 0
        if kind == "3d":
            arr = _volume(rng, positive, size)
            if len(classes) > 2:
                arr[: size // 2] += cls * 1.5 * (arr[: size // 2] > 2)
            path = data / f"v{k:03d}.nii.gz"
            nib.save(nib.Nifti1Image(arr, np.eye(4)), path)
            shape, reader = (size, size, size), "nifti"
        else:
            arr = _image(rng, positive, size)
            if len(classes) > 2 and cls == 2:
                arr[: size // 3] = 255 - arr[: size // 3]
            path = data / f"i{k:03d}.png"
            PILImage.fromarray(arr).save(path)
            shape, reader = (1, size, size), "raster"
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        label = classes[cls] if k < n + test else None
        split = "test" if n <= k < n + test else None
        group = f"patient{k % groups}" if groups else None
        project.add_item(
            name=path.name,
            kind=kind,
            reader=reader,
            paths=[path],
            shape=shape,
            spacing=(1.0, 1.0, 1.0),
            content_hash=digest,
            label=label,
            group=group,
            split=split,
        )
        if k < n:
            paths.append((path, digest))
    for k in range(duplicates):
        path, digest = paths[k]
        label = classes[k % len(classes)]
        project.add_item(
            name=f"dup-{path.name}",
            kind=kind,
            reader="nifti" if kind == "3d" else "raster",
            paths=[path],
            shape=(size,) * 3 if kind == "3d" else (1, size, size),
            spacing=(1.0, 1.0, 1.0),
            content_hash=digest,
            label=label,
        )
    return project


SHAPE = (10, 20, 24)  # z, y, x: not a cube, so resampling back to the item is tested


def make_volume_project(tmp: Path, n: int = 12, unlabelled: int = 3, seed: int = 0) -> Project:
    """``n`` labelled volumes (WT / MUT alternate; MUT has a bright block) + unlabelled ones."""

    rng = np.random.default_rng(seed)
    project = Project.create(tmp / "train.medview", ["WT", "MUT"])
    data = tmp / "vols"
    data.mkdir()
    for k in range(n + unlabelled):
        volume = rng.normal(0, 1, SHAPE).astype(np.float32)
        positive = k % 2 == 1
        if positive:
            volume[3:7, 6:14, 8:16] += 4.0
        label = ("MUT" if positive else "WT") if k < n else None
        _add_nifti(project, data / f"v{k:02d}.nii.gz", volume, label)
    return project


def make_image_project(tmp: Path, n: int = 12, shape: tuple[int, int] = (30, 40)) -> Project:
    """``n`` labelled grey PNG images (MUT has a bright square), not square on purpose."""
    from PIL import Image as PILImage

    rng = np.random.default_rng(1)
    project = Project.create(tmp / "train2d.medview", ["WT", "MUT"])
    data = tmp / "pngs"
    data.mkdir()
    for k in range(n):
        image = rng.normal(100, 20, shape)
        if k % 2:
            image[8:20, 10:24] += 100
        path = data / f"i{k:02d}.png"
        PILImage.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
        project.add_item(
            name=path.name,
            kind="2d",
            reader="raster",
            paths=[path],
            shape=(1, *shape),
            spacing=(1.0, 1.0, 1.0),
            content_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
            label="MUT" if k % 2 else "WT",
        )
    return project


def make_slice_project(
    tmp: Path,
    n: int = 12,
    *,
    depth: int = 6,
    pad: int = 2,
    size: int = 16,
    per_patient: int = 1,
    unlabelled: int = 0,
    seed: int = 0,
) -> Project:
    """``n`` labelled NIfTI volumes of ``depth`` slices with content between ``pad`` zero
    slices at each end (air), ``size`` px square. Patient ``k // per_patient`` owns volume k
    (its group, when ``per_patient`` > 1) and gives it its class: WT and MUT alternate by
    patient; MUT volumes carry a bright square through their central slices."""

    rng = np.random.default_rng(seed)
    project = Project.create(tmp / "slices.medview", ["WT", "MUT"])
    data = tmp / "slice_vols"
    data.mkdir()
    for k in range(n + unlabelled):
        patient = k // per_patient
        positive = patient % 2 == 1
        volume = np.zeros((depth + 2 * pad, size, size), dtype=np.float32)
        volume[pad : pad + depth] = rng.normal(100, 20, (depth, size, size))
        if positive:
            c, r = size // 2, max(2, size // 5)
            middle = pad + depth // 2
            volume[middle - depth // 3 : middle + depth // 3 + 1, c - r : c + r, c - r : c + r] += (
                120
            )
        label = ("MUT" if positive else "WT") if k < n else None
        group = f"patient{patient:02d}" if per_patient > 1 else None
        _add_nifti(project, data / f"s{k:02d}.nii.gz", volume, label, group)
    return project


def _add_nifti(
    project: Project, path: Path, volume: np.ndarray, label: str | None, group: str | None = None
) -> None:
    """Write a (z, y, x) volume as NIfTI (x, y, z on disk) and add it as a 3D item."""
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.transpose(volume, (2, 1, 0)), np.eye(4)), str(path))
    project.add_item(
        name=path.name,
        kind="3d",
        reader="nifti",
        paths=[path],
        shape=volume.shape,
        spacing=(1.0, 1.0, 1.0),
        content_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
        label=label,
        group=group,
    )


# ---------------------------------------------------------------- the window tests' fixture
VOLUME_SHAPE = (12, 40, 32)  # z, y, x
VOLUME_SPACING = (3.0, 0.8, 0.8)


def write_nifti(path: Path, volume: np.ndarray, spacing: tuple[float, float, float]) -> None:
    import nibabel as nib

    affine = np.diag([spacing[2], spacing[1], spacing[0], 1.0])
    nib.save(nib.Nifti1Image(np.transpose(volume, (2, 1, 0)), affine), str(path))


def write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image as PILImage

    PILImage.fromarray(array).save(path)


def describe_file(path: str) -> Image:
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


def write_fixture_files(tmp: Path) -> Path:
    """tmp/data: 3 NIfTI volumes (a bright block), 2 grey PNGs and an RGB PNG."""
    folder = tmp / "data"
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


def make_fixture_project(tmp: Path, data_dir: Path) -> Project:
    """6 items of the files of :func:`write_fixture_files`: 3 volumes (vol0 labelled WT),
    2 grey PNGs, 1 RGB PNG (the window tests' project)."""
    proj = Project.create(tmp / "fixture.medview", ["WT", "MUT"])
    for index in range(3):
        path = data_dir / f"vol{index}.nii.gz"
        image = describe_file(str(path))
        add_file(proj, path, image, "nifti", label="WT" if index == 0 else None)
    for name in ("grey0.png", "grey1.png", "colour.png"):
        path = data_dir / name
        add_file(proj, path, describe_file(str(path)), "raster")
    return proj
