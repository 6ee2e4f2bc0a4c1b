"""Shared helpers for the robustness suite: running the CLI as a user would, and the
bad-input corpus (what each file is, so a test can say how each class was answered)."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
PYDICOM_FILES = Path(__import__("pydicom").__file__).parent / "data" / "test_files"
NIBABEL_FILES = Path(__import__("nibabel").__file__).parent / "tests" / "data"
# Every extension medview recognises, and none.
EXTENSIONS = (
    ".dcm",
    ".nii",
    ".nii.gz",
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".tif",
    ".tiff",
    ".npy",
    ".npz",
    "",
)


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MEDVIEW_DEBUG", None)  # a user never sets it: a bug must show as one line
    # Strict UTF-8 output, as under an en_US.UTF-8 locale (C.UTF-8 would hide encoding bugs).
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def run_cli(*args: str | os.PathLike[str], timeout: float = 300, **env: str):
    """``python -m medview ARGS`` in a child process; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "medview", *map(os.fspath, args)],
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=timeout,
        env=cli_env(**env),
        cwd=REPO,
    )


@dataclass
class Bad:
    path: Path
    klass: str  # what kind of bad input it is (the report groups answers by it)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _nifti_bytes(shape: tuple[int, ...] = (12, 10, 8), gz: bool = False) -> bytes:
    import io

    import nibabel as nib

    image = nib.Nifti1Image(np.arange(np.prod(shape), dtype=np.float32).reshape(shape), np.eye(4))
    buffer = io.BytesIO()
    file_map = image.make_file_map({"image": buffer, "header": buffer})
    image.to_file_map(file_map)
    raw = buffer.getvalue()
    return gzip.compress(raw) if gz else raw


def absurd_nifti(path: Path, shape: tuple[int, ...] = (32000, 32000, 32000)) -> Path:
    """A 352-byte NIfTI header declaring ``shape`` float32 voxels (131 TB) and no data."""
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.float32)
    return _write(path, header.binaryblock + b"\0" * 4 + b"\0" * 64)


def build_corpus(root: Path, seed: int = 0) -> tuple[list[Bad], list[Path]]:
    """Bad files of every class under ``root``, beside a few good ones.

    Returns (bad files, good files). Only files that must each be named in the import report
    are listed as bad; shipped files that happen to be readable are the package's "good"
    examples and are checked separately.
    """
    from io_helpers import write_png, write_series, write_slice
    from pydicom.uid import generate_uid

    rng = np.random.default_rng(seed)
    bad: list[Bad] = []
    good: list[Path] = []

    # Good files first, so every class of bad input sits beside something importable.
    good.append(write_png(root / "good" / "a.png", (16, 12), seed=1))
    good.append(_write(root / "good" / "vol.nii.gz", _nifti_bytes(gz=True)))
    series = write_series(root / "good" / "series", 6, size=(16, 16), seed=seed)
    good.append(series[0].parent)

    for ext in EXTENSIONS:
        name = ext.lstrip(".").replace(".", "_") or "noext"
        bad.append(Bad(_write(root / "random" / f"random_{name}{ext}", rng.bytes(3000)), "random"))
        bad.append(Bad(_write(root / "empty" / f"empty_{name}{ext}", b""), "empty"))

    nii_gz = _nifti_bytes((20, 20, 20), gz=True)
    for fraction in (0.1, 0.5, 0.9):
        cut = nii_gz[: int(len(nii_gz) * fraction)]
        bad.append(Bad(_write(root / "truncated" / f"cut{fraction}.nii.gz", cut), "truncated"))
    nii = _nifti_bytes((20, 20, 20))
    bad.append(Bad(_write(root / "truncated" / "cut_half.nii", nii[: len(nii) // 2]), "truncated"))
    dcm = (PYDICOM_FILES / "CT_small.dcm").read_bytes()
    for fraction in (0.05, 0.3, 0.7, 0.99):
        cut = dcm[: int(len(dcm) * fraction)]
        bad.append(Bad(_write(root / "truncated" / f"cut{fraction}.dcm", cut), "truncated"))
    png = (root / "good" / "a.png").read_bytes()
    bad.append(Bad(_write(root / "truncated" / "cut.png", png[: len(png) // 2]), "truncated"))

    bad.append(Bad(absurd_nifti(root / "absurd" / "huge.nii"), "absurd-size"))
    huge4d = absurd_nifti(root / "absurd" / "huge4d.nii", (2000, 2000, 2000, 50))
    bad.append(Bad(huge4d, "absurd-size"))
    header = absurd_nifti(root / "t.nii").read_bytes()
    (root / "t.nii").unlink()
    bad.append(Bad(_write(root / "absurd" / "huge.nii.gz", gzip.compress(header)), "absurd-size"))

    # Wrong extensions: a PNG called .dcm and .nii, a NIfTI called .png.
    bad.append(Bad(_write(root / "wrongext" / "png.dcm", png), "wrong-extension"))
    bad.append(Bad(_write(root / "wrongext" / "png.nii", png), "wrong-extension"))
    bad.append(Bad(_write(root / "wrongext" / "nifti.png", nii), "wrong-extension"))
    text = b"hello, not a TIFF\n" * 10
    bad.append(Bad(_write(root / "wrongext" / "text.tif", text), "wrong-extension"))

    # A DICOM series with a missing slice (imported, with a warning) and one with a slice of
    # another size (that slice skipped with a reason, the rest imported).
    gap = write_series(root / "series_gap", 8, size=(16, 16), seed=3)
    gap[4].unlink()
    good.append(gap[0].parent)
    uid = generate_uid()
    odd_series = write_series(root / "series_odd", 6, size=(16, 16), series_uid=uid, seed=4)
    good.append(odd_series[0].parent)
    bad.append(
        Bad(
            write_slice(
                root / "series_odd" / "odd.dcm",
                np.zeros((10, 12), np.int16),
                series_uid=uid,
                instance=50,
                position=(0, 0, 500),
            ),
            "inconsistent-series",
        )
    )

    # Names: not valid UTF-8, and as long as the file system allows (255 bytes).
    folder = os.fsencode(root / "names")
    os.makedirs(folder, exist_ok=True)
    weird = os.path.join(folder, b"bad\xff\xfe-\xe9.png")
    with open(weird, "wb") as handle:
        handle.write(rng.bytes(500))
    bad.append(Bad(Path(os.fsdecode(weird)), "non-utf8-name"))
    good_weird = os.path.join(folder, b"good\xe9\xff.png")
    shutil.copy(root / "good" / "a.png", good_weird)
    write_png(Path(os.fsdecode(good_weird)), (9, 7), seed=9)  # other content: not a duplicate
    good.append(Path(os.fsdecode(good_weird)))
    long_bad = root / "names" / ("x" * 251 + ".dcm")
    bad.append(Bad(_write(long_bad, rng.bytes(800)), "long-name"))
    long_good = root / "names" / ("y" * 251 + ".png")
    good.append(write_png(long_good, (10, 10), seed=11))
    deep = root / "names"
    for level in range(12):  # a path far beyond 260 characters (Windows' old limit)
        deep = deep / (f"level{level}_" + "d" * 40)
    good.append(write_png(deep / "deep.png", (6, 6), seed=12))

    # Symlink loops (a folder linking to its parent, two links to each other) and a link to
    # nothing.
    links = root / "links"
    links.mkdir()
    try:
        (links / "up").symlink_to(root, target_is_directory=True)
        (links / "self").symlink_to(links, target_is_directory=True)
        (links / "a.dcm").symlink_to(links / "b.dcm")
        (links / "b.dcm").symlink_to(links / "a.dcm")
        (links / "dangling.png").symlink_to(links / "nowhere.png")
    except OSError:
        pass
    return bad, good


def shipped_files() -> list[Path]:
    """Every file pydicom and nibabel ship for their own tests (broken ones included)."""
    files = []
    for base in (PYDICOM_FILES, NIBABEL_FILES):
        files += [p for p in sorted(base.rglob("*")) if p.is_file() and "__pycache__" not in str(p)]
    return files


# ---------------------------------------------------------------------------- issue 23 setup
# The T="--model cnn_small --folds 2 --epochs 1 --size 32 --device cpu", kept small.
TRAIN_FAST = {"model": "cnn_small", "folds": 2, "epochs": 1, "size": 32, "device": "cpu"}
TRAIN_FAST.update(batch_size=4, threads=1, augment="none", predict_unlabelled=False)


def write_pngs(folder: Path, n: int = 16) -> Path:
    """``n`` PNGs in ``folder``/A and ``folder``/B (a bright square in B's)."""
    from PIL import Image as PILImage

    rng = np.random.default_rng(0)
    for k in range(n):
        cls = "AB"[k % 2]
        img = rng.normal(100, 20, (32, 32))
        if cls == "B":
            img[8:20, 8:20] += 100
        (folder / cls).mkdir(parents=True, exist_ok=True)
        PILImage.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / cls / f"{k}.png")
    return folder


def train_config(folder: Path, **extra: object):
    """The issue's tiny training settings for the project at ``folder``."""
    from training.recipe.config import TrainConfig

    return TrainConfig(project=str(folder), **{**TRAIN_FAST, **extra})
