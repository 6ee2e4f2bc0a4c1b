"""Label conflicts (identical content, different class) and near-duplicates (pHash)."""

from __future__ import annotations

import io
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
from io_helpers import PNEUMONIA_NPZ

from medview.core.image import Image
from medview.io import phash
from medview.io.importer import import_sources
from medview.io.near_duplicates import label_conflicts, near_duplicate_groups


def _picture(seed: int, size: int = 96) -> np.ndarray:
    """A smooth random field with a few ellipses: structured like a micrograph, and distinct
    from every other seed."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    img = gaussian_filter(rng.normal(0, 1, (size, size)), rng.uniform(2, 8))
    yy, xx = np.mgrid[:size, :size]
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(10, size - 10, 2)
        a, b = rng.uniform(5, 25, 2)
        img += rng.uniform(-2, 2) * (((yy - cy) / a) ** 2 + ((xx - cx) / b) ** 2 < 1)
    img = (img - img.min()) / (np.ptp(img) + 1e-9) * 255
    return img.astype(np.uint8)


def _save(path: Path, array: np.ndarray, **kwargs) -> Path:
    from PIL import Image as PILImage

    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path, **kwargs)
    return path


def _hash(array: np.ndarray) -> str:
    return phash.hash_image(Image(array[np.newaxis]))


def test_identical_files_in_two_class_folders_are_a_label_conflict(project, tmp_path):
    data = tmp_path / "data"
    _save(data / "WT" / "a.png", _picture(1))
    (data / "MUT").mkdir()
    shutil.copy(data / "WT" / "a.png", data / "MUT" / "a copy.png")
    _save(data / "WT" / "b.png", _picture(2))
    shutil.copy(data / "WT" / "b.png", data / "WT" / "b again.png")  # same label: duplicate
    report = import_sources(project, [data], label_from="folder")
    assert len(report.label_conflicts) == 1 and len(report.duplicates) == 1
    conflict = report.label_conflicts[0]
    assert {conflict.label, conflict.existing_label} == {"WT", "MUT"}
    assert {Path(conflict.path).name, Path(conflict.existing_path).name} == {"a.png", "a copy.png"}
    summary = "\n".join(report.summary_lines())
    assert "label conflicts (same content, different label; both kept): 1" in summary
    assert "a copy.png" in summary and "(MUT)" in summary and "(WT)" in summary
    # Both are in the project, with their own labels, and the conflict is found again there.
    names = {it.name: it.label for it in project.items()}
    assert names["a"] == "WT" and names["a copy"] == "MUT"
    assert len({"b", "b again"} & set(names)) == 1  # a same-label copy is still dropped
    groups = label_conflicts(project)
    assert [sorted(it.name for it in g) for g in groups] == [["a", "a copy"]]
    # Re-importing the same folders adds nothing and reports no new conflict.
    again = import_sources(project, [data], label_from="folder")
    assert not again.imported and not again.label_conflicts


def test_resized_noisy_and_jpeg_copies_are_grouped(project, tmp_path):
    from PIL import Image as PILImage

    rng = np.random.default_rng(5)
    original = _picture(7)
    data = tmp_path / "data"
    _save(data / "orig.png", original)
    small = np.asarray(PILImage.fromarray(original).resize((64, 64), PILImage.Resampling.BILINEAR))
    _save(data / "resized.png", small)
    noisy = np.clip(original + rng.normal(0, 5, original.shape), 0, 255).astype(np.uint8)
    _save(data / "noisy.png", noisy)
    _save(data / "reencoded.jpg", original, quality=70)
    for k in range(6):
        _save(data / f"other{k}.png", _picture(100 + k))
    report = import_sources(project, [data])
    assert report.near_duplicates == 4
    ids = {it.name: it.id for it in project.items()}
    groups = near_duplicate_groups(project)
    assert len(groups) == 1
    assert sorted(groups[0]) == sorted(ids[n] for n in ("orig", "resized", "noisy", "reencoded"))
    assert len(project.phashes()) == 10
    assert "near duplicates" in "\n".join(report.summary_lines())


def test_volumes_hash_three_central_slices(project, tmp_path):
    rng = np.random.default_rng(0)
    volume = rng.normal(0, 1, (20, 24, 24)).astype(np.float32)
    a = phash.hash_image(Image(volume))
    b = phash.hash_image(Image(volume + rng.normal(0, 0.05, volume.shape).astype(np.float32)))
    c = phash.hash_image(Image(rng.normal(0, 1, (20, 24, 24)).astype(np.float32)))
    assert len(a) == 48  # three 64-bit planes
    assert phash.distance(a, b) <= phash.MAX_DISTANCE < phash.distance(a, c)
    assert phash.distance(a, _hash(_picture(1))) is None  # a volume is never an image's twin


def _false_positive_rate(hashes: list[str]) -> tuple[float, float]:
    """(pairs within MAX_DISTANCE / all pairs, items in any group / items)."""
    limit = phash.MAX_DISTANCE
    close = sum(1 for a, b in itertools.combinations(hashes, 2) if phash.distance(a, b) <= limit)
    n = len(hashes)
    grouped = sum(len(g) for g in phash.near_duplicate_groups(enumerate(hashes)))
    return close / (n * (n - 1) / 2), grouped / n


def test_unrelated_generated_images_are_not_grouped():
    hashes = [_hash(_picture(seed)) for seed in range(500)]
    pair_rate, item_rate = _false_positive_rate(hashes)
    assert pair_rate < 1e-4 and item_rate < 0.02, (pair_rate, item_rate)


@pytest.mark.slow
@pytest.mark.skipif(not PNEUMONIA_NPZ.is_file(), reason="shared PneumoniaMNIST subset absent")
def test_pneumoniamnist_false_positive_rate():
    with np.load(PNEUMONIA_NPZ) as archive:
        images = np.concatenate([archive[f"{s}_images"] for s in ("train", "val", "test")])
    hashes = [_hash(a) for a in images]
    ints = np.array([int(h, 16) for h in hashes], dtype=np.uint64)
    close = sum(int((np.bitwise_count(ints[i + 1 :] ^ ints[i]) <= phash.MAX_DISTANCE).sum())
                for i in range(len(ints) - 1))  # fmt: skip
    pairs = len(ints) * (len(ints) - 1) // 2
    assert close / pairs < 1e-4, close / pairs


def test_jpeg_reencoding_in_memory_stays_close():
    from PIL import Image as PILImage

    original = _picture(3)
    buffer = io.BytesIO()
    PILImage.fromarray(original).save(buffer, "JPEG", quality=50)
    again = np.asarray(PILImage.open(buffer))
    assert phash.distance(_hash(original), _hash(again)) <= phash.MAX_DISTANCE


def test_distinct_volumes_of_one_protocol_are_not_grouped_but_their_copies_are(tmp_path):
    """The bundled example's volumes share body and position and differ in their inclusion:
    at the 2D limit 22 of its 40 distinct volumes were one "near-duplicate" cluster."""
    import nibabel as nib

    from medview.demo import _write_volume

    rng = np.random.default_rng(0)
    volumes = []
    for n in range(30):
        path = tmp_path / f"v{n}.nii.gz"
        _write_volume(path, n % 2 == 1, rng)
        volumes.append(np.asarray(nib.load(path).dataobj).T.astype(np.float32))
    hashes = [phash.hash_image(Image(v)) for v in volumes]
    assert phash.near_duplicate_groups(enumerate(hashes)) == []

    # A re-export with another rescale slope/intercept, and one with a little added noise. (A
    # resampled copy is NOT caught: in noisy volumes the voxel noise sets most hash bits.)
    original = volumes[0]
    rescaled = original * 1.2 + 30
    noisy = original + rng.normal(0, 2, original.shape)
    copies = [phash.hash_image(Image(c.astype(np.float32))) for c in (rescaled, noisy)]
    groups = phash.near_duplicate_groups(enumerate([*hashes, *copies]))
    assert groups == [[0, 30, 31]]
