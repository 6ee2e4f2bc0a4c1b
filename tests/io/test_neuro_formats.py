"""Analyze 7.5 and NIfTI pairs (.hdr + .img, what SPM writes) and FreeSurfer .mgh/.mgz, read
through nibabel: files nibabel writes, scanned as one item per pair, opened with the geometry
NIfTI files get."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.io import savemat

from medview.core.errors import ReadError
from medview.io.importer import import_sources
from medview.io.readers import load_item, read_image, scan

AFFINE = np.array([[2.0, 0, 0, -10], [0, 3.0, 0, 5], [0, 0, 4.0, 7], [0, 0, 0, 1]])


def _volume() -> np.ndarray:
    return np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)  # nibabel's (i, j, k)


def _save(kind: str, path: Path) -> Path:
    import nibabel as nib

    data = _volume()
    image = {
        "analyze": lambda: nib.AnalyzeImage(data, AFFINE),
        "spm2": lambda: nib.Spm2AnalyzeImage(data, AFFINE),
        "pair": lambda: nib.Nifti1Pair(data, AFFINE),
        "mgh": lambda: nib.MGHImage(data.astype(np.float32), AFFINE),
    }[kind]()
    nib.save(image, str(path))
    return path


@pytest.mark.parametrize(
    ("kind", "name", "fmt"),
    [
        ("analyze", "a.hdr", "Analyze 7.5"),
        ("spm2", "s.hdr", "Analyze 7.5"),
        ("pair", "p.img", "NIfTI pair"),
        ("mgh", "m.mgh", "MGH"),
        ("mgh", "m.mgz", "MGH"),
    ],
)
def test_nibabel_formats_open_with_the_nifti_geometry(
    tmp_path: Path, kind: str, name: str, fmt: str
) -> None:
    import nibabel as nib

    path = _save(kind, tmp_path / name)
    image = read_image(path)
    np.testing.assert_array_equal(image.array, _volume().transpose(2, 1, 0))
    assert image.metadata["format"] == fmt
    reference = nib.load(str(path)).affine
    ras = reference @ np.array([5, 4, 3, 1.0])  # voxel (i, j, k) = (5, 4, 3)
    assert image.index_to_world((3, 4, 5)) == pytest.approx(ras[:3] * [-1, -1, 1])


def test_a_folder_of_spm_pairs_imports_one_item_per_pair(project: Any, tmp_path: Path) -> None:
    _save("spm2", tmp_path / "pet1.hdr")
    _save("pair", tmp_path / "pet2.hdr")
    _save("analyze", tmp_path / "pet3.hdr")
    # SPM's voxel-to-world matrix beside its pair: nibabel reads it with the header.
    savemat(tmp_path / "pet3.mat", {"mat": AFFINE})
    result = scan(tmp_path)
    assert result.skipped == []
    assert sorted(c.name for c in result.found) == ["pet1", "pet2", "pet3"]
    assert all(len(c.paths) == 2 and c.spacing == (4.0, 3.0, 2.0) for c in result.found)
    report = import_sources(project, [tmp_path])
    assert len(report.imported) == 3
    item = next(i for i in project.items() if i.name == "pet1")
    np.testing.assert_array_equal(load_item(project, item).array, _volume().transpose(2, 1, 0))


def test_a_missing_img_is_named(tmp_path: Path) -> None:
    _save("analyze", tmp_path / "a.hdr").with_suffix(".img").unlink()
    result = scan(tmp_path)
    assert result.found == []
    ((path, reason),) = result.skipped
    assert Path(path).name == "a.hdr" and "a.img is missing" in reason
    with pytest.raises(ReadError, match="a.img is missing"):
        read_image(tmp_path / "a.hdr")


def test_an_img_alone_and_a_truncated_img_are_named(tmp_path: Path) -> None:
    (tmp_path / "lone.img").write_bytes(b"\0" * 64)
    data = _save("pair", tmp_path / "short.hdr").with_suffix(".img")
    data.write_bytes(data.read_bytes()[:100])
    reasons = {Path(p).name: r for p, r in scan(tmp_path).skipped}
    assert "without its .hdr" in reasons["lone.img"]
    assert "truncated" in reasons["short.hdr"] and "short.img has 100" in reasons["short.hdr"]


def test_a_pair_whose_img_was_deleted_after_import_is_named(project: Any, tmp_path: Path) -> None:
    path = _save("analyze", tmp_path / "a.hdr")
    import_sources(project, [path])
    path.with_suffix(".img").unlink()
    with pytest.raises(ReadError, match=r"a\.img"):
        load_item(project, project.items()[0])
