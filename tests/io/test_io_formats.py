"""NIfTI, TIFF, PNG/JPG/BMP and npy readers."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from io_helpers import nibabel_file, write_png

from medview.core.errors import ReadError
from medview.io import limits
from medview.io.readers import read_image, scan


# ---------------------------------------------------------------------------- NIfTI
def test_anatomical_nii_keeps_the_affine() -> None:
    import nibabel as nib

    path = nibabel_file("anatomical.nii")
    reference = nib.load(str(path))
    image = read_image(path)
    i, j, k = reference.shape[:3]
    assert image.shape == (k, j, i)
    data = np.asanyarray(reference.dataobj)
    np.testing.assert_array_equal(image.array, data.transpose(2, 1, 0))
    # Every voxel maps to the same world point: RAS from nibabel = LPS flipped in x and y.
    flip = np.array([-1.0, -1.0, 1.0])
    for index in [(0, 0, 0), (k - 1, 3, 5), (2, j - 1, i - 1)]:
        ras = reference.affine @ np.array([index[2], index[1], index[0], 1.0])
        assert image.index_to_world(index) == pytest.approx(ras[:3] * flip, abs=1e-4)


def test_example4d_opens_the_first_volume_with_a_note() -> None:
    import nibabel as nib

    path = nibabel_file("example4d.nii.gz")
    reference = nib.load(str(path))
    image = read_image(path)
    i, j, k, _t = reference.shape
    assert image.shape == (k, j, i)
    first = np.asanyarray(reference.dataobj)[..., 0]
    np.testing.assert_allclose(image.array, first.transpose(2, 1, 0))
    assert any("first volume" in n for n in image.metadata["notes"])
    assert image.spacing == pytest.approx(tuple(reversed(reference.header.get_zooms()[:3])))


def test_generated_nifti_roundtrip(tmp_path: Path) -> None:
    import nibabel as nib

    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)  # (i, j, k)
    affine = np.diag([0.5, 0.75, 2.0, 1.0])
    affine[:3, 3] = (10, 20, 30)
    path = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), str(path))
    image = read_image(path)
    assert image.shape == (6, 5, 4)
    assert image.array.dtype == np.int16
    assert image.spacing == pytest.approx((2.0, 0.75, 0.5))
    assert image.origin == pytest.approx((-10.0, -20.0, 30.0))
    assert image.array[2, 3, 1] == data[1, 3, 2]
    found = scan(path).found
    assert found[0].shape == (6, 5, 4) and found[0].reader == "nifti" and found[0].kind == "3d"
    assert found[0].name == "vol"


def test_huge_declared_nifti_is_refused_before_allocating(tmp_path: Path) -> None:
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape((30000, 30000, 30000))
    header.set_data_dtype(np.float32)
    path = tmp_path / "huge.nii"
    with open(path, "wb") as handle:
        handle.write(header.binaryblock + b"\0" * 4 + b"\0" * 1000)
    with pytest.raises(ReadError, match="limit"):
        read_image(path)
    assert "limit" in scan(path).skipped[0].reason


def test_truncated_nii_gz(tmp_path: Path) -> None:
    import nibabel as nib

    rng = np.random.default_rng(0)
    path = tmp_path / "full.nii.gz"
    nib.save(nib.Nifti1Image(rng.normal(size=(20, 20, 20)).astype(np.float32), np.eye(4)), path)
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ReadError):
        read_image(cut)
    skipped = scan(cut).skipped
    assert len(skipped) == 1 and skipped[0].path == str(cut)
    # Complete gzip stream but too little data for the header.
    short = tmp_path / "short.nii.gz"
    short.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:2000]))
    assert "truncated" in scan(short).skipped[0].reason
    with pytest.raises(ReadError):
        read_image(short)


def test_voxel_ceiling_is_configurable(tmp_path: Path) -> None:
    path = write_png(tmp_path / "a.png", (40, 50))
    previous = limits.set_max_voxels(1000)
    try:
        with pytest.raises(ReadError, match="MEDVIEW_MAX_VOXELS"):
            read_image(path)
    finally:
        limits.set_max_voxels(previous)
    assert read_image(path).shape == (1, 40, 50)


# ---------------------------------------------------------------------------- raster
def test_png_gray_rgb_rgba_16bit_and_palette(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    gray = read_image(write_png(tmp_path / "g.png", (10, 12)))
    assert gray.array.shape == (1, 10, 12) and gray.array.dtype == np.uint8 and gray.kind == "2d"
    rgb = read_image(write_png(tmp_path / "c.png", (10, 12, 3)))
    assert rgb.array.shape == (1, 10, 12, 3) and rgb.is_rgb
    rgba = read_image(write_png(tmp_path / "a.png", (10, 12, 4)))
    assert rgba.array.shape == (1, 10, 12, 3)
    deep = np.arange(120, dtype=np.uint16).reshape(10, 12) * 500
    PILImage.fromarray(deep).save(tmp_path / "d.png")
    image16 = read_image(tmp_path / "d.png")
    np.testing.assert_array_equal(image16.array[0], deep)
    PILImage.fromarray(np.zeros((5, 5), np.uint8)).convert("P").save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png").array.shape == (1, 5, 5, 3)


def test_jpg_and_bmp(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    array = np.tile(np.linspace(0, 255, 16, dtype=np.uint8), (8, 1))
    PILImage.fromarray(array).save(tmp_path / "a.jpg", quality=95)
    PILImage.fromarray(np.dstack([array] * 3)).save(tmp_path / "b.jpeg")
    PILImage.fromarray(array).save(tmp_path / "c.bmp")
    jpg = read_image(tmp_path / "a.jpg")
    assert jpg.array.shape == (1, 8, 16)
    assert np.abs(jpg.array[0].astype(int) - array).max() < 10  # lossy, but close
    assert read_image(tmp_path / "b.jpeg").array.shape == (1, 8, 16, 3)
    np.testing.assert_array_equal(read_image(tmp_path / "c.bmp").array[0], array)


def test_tiff_single_multipage_rgb_and_hyperstack(tmp_path: Path) -> None:
    import tifffile

    single = np.arange(30, dtype=np.uint16).reshape(5, 6)
    tifffile.imwrite(tmp_path / "s.tif", single)
    np.testing.assert_array_equal(read_image(tmp_path / "s.tif").array, single[np.newaxis])

    stack = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    tifffile.imwrite(tmp_path / "stack.tiff", stack)
    image = read_image(tmp_path / "stack.tiff")
    assert image.kind == "3d"
    np.testing.assert_array_equal(image.array, stack)

    rgb = np.random.default_rng(0).integers(0, 255, (7, 9, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.tif").array[0], rgb)

    # ImageJ hyperstack T, Z, C, Y, X: keep Z and the channels (2: red and green, blue
    # empty), the first time point; z step kept.
    hyper = np.random.default_rng(1).integers(0, 1000, (2, 3, 2, 5, 6), dtype=np.uint16)
    tifffile.imwrite(
        tmp_path / "hyper.tif",
        hyper,
        imagej=True,
        metadata={"axes": "TZCYX", "spacing": 2.5},
        resolution=(1 / 0.5, 1 / 0.5),
    )
    image = read_image(tmp_path / "hyper.tif")
    np.testing.assert_array_equal(image.array[..., :2], np.moveaxis(hyper[0], 1, -1))
    assert not image.array[..., 2].any()
    assert image.spacing == pytest.approx((2.5, 0.5, 0.5))
    assert image.metadata["notes"]

    found = {c.name: c for c in scan(tmp_path).found}
    assert found["stack"].shape == (4, 5, 6) and found["stack"].kind == "3d"
    assert found["rgb"].shape == (1, 7, 9, 3) and found["rgb"].kind == "2d"
    assert found["hyper"].shape == (3, 5, 6, 3)


def test_truncated_tiff_is_named_at_scan(tmp_path: Path) -> None:
    import tifffile

    tifffile.imwrite(tmp_path / "full.tif", np.ones((128, 128), np.uint16))
    data = (tmp_path / "full.tif").read_bytes()
    # Keep the header and the page directory (written first), lose the end of the pixels.
    (tmp_path / "cut.tif").write_bytes(data[: len(data) - 5000])
    result = scan(tmp_path)
    assert [c.name for c in result.found] == ["full"]
    assert "cut.tif" in result.skipped[0].path and result.skipped[0].reason


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    path = tmp_path / "bomb.png"
    PILImage.new("1", (20000, 20000)).save(path)  # a few kB on disk, 400 M pixels
    previous = limits.set_max_voxels(100_000_000)
    try:
        with pytest.raises(ReadError, match="limit"):
            read_image(path)
    finally:
        limits.set_max_voxels(previous)


def test_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.ones((3, 4, 5), np.float32))
    assert read_image(tmp_path / "v.npy").shape == (3, 4, 5)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ReadError, match="unsupported"):
        read_image(tmp_path / "obj.npy")


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", ["x.dcm", "x.nii.gz", "x.nii", "x.png", "x.jpg", "x.tif", "x.npy"])
def test_random_bytes_and_empty_files(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(7).bytes(4096))
    with pytest.raises(ReadError) as info:
        read_image(path)
    assert info.value.path == str(path)
    empty = tmp_path / f"empty_{name}"
    empty.write_bytes(b"")
    with pytest.raises(ReadError, match="empty"):
        read_image(empty)
    skipped = {Path(s.path).name: s.reason for s in scan(tmp_path).skipped}
    assert set(skipped) == {name, f"empty_{name}"}


def test_missing_and_unsupported(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="not found"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "a.txt").write_text("text")
    with pytest.raises(ReadError, match="unsupported"):
        read_image(tmp_path / "a.txt")
    with pytest.raises(ReadError, match="no DICOM"):
        read_image(tmp_path)


def test_scan_does_not_loop_on_symlinks(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    write_png(tmp_path / "d" / "a.png", (4, 4))
    try:
        (tmp_path / "d" / "loop").symlink_to(tmp_path, target_is_directory=True)
    except OSError:
        pytest.skip("symlinks not available")
    (tmp_path / "d" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    result = scan(tmp_path)
    assert [c.name for c in result.found] == ["a"]
    assert [(Path(s.path).name, "broken link" in s.reason) for s in result.skipped] == [
        ("gone.png", True)
    ]
