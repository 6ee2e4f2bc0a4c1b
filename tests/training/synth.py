"""Synthetic data for the training tests: tiny NIfTI volumes and PNG images whose classes
differ by a bright blob (learnable in a few epochs), and a fallback reader used only while
medview.io is not importable. Also imported by subprocess entry points (mv_entry.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

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


def _fallback_read(project: Project, item):
    import nibabel as nib
    from PIL import Image as PILImage

    from medview.core.image import Image

    if item.reader == "nifti":
        arr = np.asarray(nib.load(item.paths[0]).dataobj, dtype=np.float32)
        return Image(arr)
    return Image(np.asarray(PILImage.open(item.paths[0]))[np.newaxis])


def install_fallback_reader() -> bool:
    """Point training.data at the fallback reader if medview.io is not there yet."""
    try:
        from medview.io.readers import load_item  # noqa: F401
    except ImportError:
        import training.data

        training.data._read_item = _fallback_read
        return True
    return False
