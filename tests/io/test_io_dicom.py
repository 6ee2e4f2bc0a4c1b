"""DICOM reader: shipped files, generated series (order, spacing, HU), bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from io_helpers import pydicom_file, transcode_jpegls, write_series, write_slice

from medview.core.errors import ReadError
from medview.io.readers import read_image, scan

IDENTIFYING = ("Secret", "SECRET", "PatientName", "PatientID")


def _no_patient_fields(metadata: dict) -> None:
    text = repr(metadata)
    assert not any(word in text for word in IDENTIFYING), text


def test_ct_small_is_hu_with_geometry() -> None:
    image = read_image(pydicom_file("CT_small.dcm"))
    assert image.shape == (1, 128, 128)
    assert image.array.dtype == np.int16  # slope 1, intercept -1024: exact in int16
    assert image.spacing[1:] == pytest.approx((0.661468, 0.661468))
    assert image.origin == pytest.approx((-158.135803, -179.035797, -75.699997))
    assert image.metadata["modality"] == "CT"
    # Raw stored values shifted by the intercept.
    import pydicom

    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    raw = ds.pixel_array.astype(np.int32)
    expected = raw * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
    np.testing.assert_array_equal(image.array[0], expected)
    _no_patient_fields(image.metadata)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
    ],
)
def test_mr_small_and_its_compressed_variants_decode_identically(name: str) -> None:
    reference = read_image(pydicom_file("MR_small.dcm"))
    image = read_image(pydicom_file(name))
    assert image.shape == (1, 64, 64)
    np.testing.assert_array_equal(image.array, reference.array)
    assert image.spacing == pytest.approx(reference.spacing)


def test_multiframe_file_is_a_volume() -> None:
    image = read_image(pydicom_file("rtdose.dcm"))
    assert image.shape == (15, 10, 10)
    assert image.kind == "3d"
    # GridFrameOffsetVector steps of 5 mm along the normal.
    assert image.spacing[0] == pytest.approx(5.0)


def test_rgb_multiframe_file() -> None:
    image = read_image(pydicom_file("SC_rgb_rle_2frame.dcm"))
    assert image.array.shape == (2, 100, 100, 3)
    assert image.is_rgb


def _enhanced_file(path: Path, frames: int = 6) -> Path:
    """An enhanced multi-frame file with frames stored out of order and per-frame rescale."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.Rows, ds.Columns = 8, 6
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    shared = Dataset()
    plane = Dataset()
    plane.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures = Dataset()
    measures.PixelSpacing = [0.5, 0.25]
    measures.SliceThickness = 3.0
    shared.PlaneOrientationSequence = Sequence([plane])
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    order = [3, 0, 5, 1, 4, 2]  # frame i is at slice order[i]
    groups = []
    pixels = np.zeros((frames, 8, 6), dtype=np.uint16)
    for i, slice_index in enumerate(order):
        group = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [0.0, 0.0, 10.0 + 3.0 * slice_index]
        group.PlanePositionSequence = Sequence([pos])
        transform = Dataset()
        transform.RescaleSlope = 1
        transform.RescaleIntercept = -1000
        group.PixelValueTransformationSequence = Sequence([transform])
        groups.append(group)
        pixels[i] = 1000 + slice_index
    ds.PerFrameFunctionalGroupsSequence = Sequence(groups)
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_enhanced_multiframe_frames_sorted_and_rescaled(tmp_path: Path) -> None:
    image = read_image(_enhanced_file(tmp_path / "enhanced.dcm"))
    assert image.shape == (6, 8, 6)
    assert image.spacing == pytest.approx((3.0, 0.5, 0.25))
    assert [int(image.array[k, 0, 0]) for k in range(6)] == list(range(6))
    assert image.origin == pytest.approx((0.0, 0.0, 10.0))


@pytest.mark.parametrize(
    "orientation",
    [(1, 0, 0, 0, 1, 0), (0, 1, 0, 0, 0, -1), (1, 0, 0, 0, 0.6, -0.8)],
    ids=["axial", "sagittal", "oblique"],
)
def test_generated_40_slice_series_order_spacing_hu(tmp_path: Path, orientation) -> None:
    ordered = write_series(tmp_path / "series", 40, orientation=orientation, step=2.5)
    image = read_image(tmp_path / "series")
    assert image.shape == (40, 24, 20)
    # Slice k holds HU 10 k - 24 (raw 1000 + 10 k, intercept -1024): the order is right.
    np.testing.assert_array_equal(image.array[:, 5, 5], 10 * np.arange(40) - 24)
    assert image.array[3, 0, 0] == -1024
    assert image.array.dtype == np.int16
    assert image.spacing == pytest.approx((2.5, 0.7, 0.8))
    assert "warnings" not in image.metadata
    # Geometry: voxel (k, 0, 0) is where slice k was written.
    import pydicom

    for k in (0, 17, 39):
        ds = pydicom.dcmread(ordered[k], stop_before_pixels=True)
        assert image.index_to_world((k, 0, 0)) == pytest.approx(
            [float(v) for v in ds.ImagePositionPatient], abs=1e-6
        )
    # Row direction (x) and column direction (y) come from ImageOrientationPatient.
    assert image.direction[:, 2] == pytest.approx(orientation[:3])
    assert image.direction[:, 1] == pytest.approx(orientation[3:])
    _no_patient_fields(image.metadata)


def test_series_without_positions_falls_back_to_instance_number(tmp_path: Path) -> None:
    from pydicom.uid import generate_uid

    uid = generate_uid()
    for k, instance in enumerate([3, 1, 2]):
        pixels = np.full((4, 4), 1024 + instance, dtype=np.int16)
        write_slice(
            tmp_path / f"f{k}.dcm", pixels, series_uid=uid, instance=instance, position=None
        )
    image = read_image(tmp_path)
    assert [int(v) for v in image.array[:, 0, 0]] == [1, 2, 3]
    assert any("InstanceNumber" in w for w in image.metadata["warnings"])


def test_uneven_gaps_and_missing_slice_are_warned(tmp_path: Path) -> None:
    paths = write_series(tmp_path / "s", 12)
    paths[5].unlink()  # a missing slice
    image = read_image(tmp_path / "s")
    assert image.shape[0] == 11
    assert image.spacing[0] == pytest.approx(2.5)
    warning = " ".join(image.metadata["warnings"])
    assert "uneven slice gaps" in warning and "missing" in warning


def test_float_rescale_gives_float32(tmp_path: Path) -> None:
    from pydicom.uid import generate_uid

    uid = generate_uid()
    for k in range(3):
        pixels = np.full((4, 4), 10 * k, dtype=np.int16)
        write_slice(
            tmp_path / f"{k}.dcm",
            pixels,
            series_uid=uid,
            instance=k + 1,
            position=(0, 0, k),
            slope=0.5,
            intercept=0.25,
        )
    image = read_image(tmp_path)
    assert image.array.dtype == np.float32
    assert image.array[:, 1, 1] == pytest.approx([0.25, 5.25, 10.25])


@pytest.mark.parametrize(
    ("raw", "slope", "intercept", "dtype"),
    [
        ([40000, 65535, 0], 1.0, -32768.0, np.int16),  # uint16 raw: exact only via wrap-around
        ([0, 100, 4095], -1.0, 0.0, np.int16),  # a negative slope flips the range
        ([0, 60000, 100], 2.0, -1024.0, np.int32),  # too wide for int16
        ([1, 2, 3], 1.5, 0.0, np.float32),
    ],
)
def test_rescale_dtype_and_exact_values(tmp_path: Path, raw, slope, intercept, dtype) -> None:
    from pydicom.uid import generate_uid

    uid = generate_uid()
    for k, value in enumerate(raw):
        pixels = np.full((3, 3), value, dtype=np.uint16)
        write_slice(
            tmp_path / f"{k}.dcm",
            pixels,
            series_uid=uid,
            instance=k + 1,
            position=(0, 0, k),
            slope=slope,
            intercept=intercept,
        )
    image = read_image(tmp_path)
    assert image.array.dtype == dtype
    expected = np.array(raw, dtype=float) * slope + intercept
    np.testing.assert_allclose(image.array[:, 1, 1], expected)


def test_gdcm_written_jpegls_series_matches_the_raw_one(tmp_path: Path) -> None:
    write_series(tmp_path / "raw", 6, (32, 32))
    transcode_jpegls(tmp_path / "raw", tmp_path / "jls")
    image = read_image(tmp_path / "jls")
    assert "JPEG-LS" in image.metadata["transfer_syntax"]
    np.testing.assert_array_equal(image.array, read_image(tmp_path / "raw").array)


def test_rle_series_decodes(tmp_path: Path) -> None:
    from pydicom.uid import RLELossless

    write_series(tmp_path / "rle", 6, compress=RLELossless)
    image = read_image(tmp_path / "rle")
    np.testing.assert_array_equal(image.array[:, 5, 5], 10 * np.arange(6) - 24)


def test_corrupt_slice_skips_the_file_not_the_series(tmp_path: Path) -> None:
    paths = write_series(tmp_path / "s", 10)
    data = paths[4].read_bytes()
    paths[4].write_bytes(data[: len(data) - 100])  # truncated pixel data
    image = read_image(tmp_path / "s")
    assert image.shape[0] == 9
    assert any(paths[4].name in w for w in image.metadata["warnings"])
    result = scan(tmp_path / "s")
    assert len(result.found) == 1 and len(result.found[0].paths) == 9
    assert [Path(s.path).name for s in result.skipped] == [paths[4].name]
    assert "truncated" in result.skipped[0].reason


def test_odd_size_file_in_a_series_is_skipped(tmp_path: Path) -> None:
    from pydicom.uid import generate_uid

    uid = generate_uid()
    write_series(tmp_path, 5, series_uid=uid)
    write_slice(
        tmp_path / "odd.dcm",
        np.zeros((8, 8), np.int16),
        series_uid=uid,
        instance=99,
        position=(0, 0, 300),
    )
    result = scan(tmp_path)
    assert len(result.found) == 1 and result.found[0].shape == (5, 24, 20)
    assert [(Path(s.path).name, "differs" in s.reason) for s in result.skipped] == [
        ("odd.dcm", True)
    ]


@pytest.mark.parametrize(
    "name", ["MR_truncated.dcm", "rtplan_truncated.dcm", "rtplan.dcm", "JPEG-lossy.dcm"]
)
def test_bad_shipped_files_raise_read_error(name: str) -> None:
    path = pydicom_file(name)
    with pytest.raises(ReadError) as info:
        read_image(path)
    assert info.value.reason
    assert name in str(info.value)


def test_scan_mixed_folder(tmp_path: Path) -> None:
    write_series(tmp_path / "mixed", 6, description="one")
    write_series(tmp_path / "mixed", 4, description="two", seed=1)
    (tmp_path / "mixed" / "notes.txt").write_text("hello")
    (tmp_path / "mixed" / "random.dcm").write_bytes(np.random.default_rng(0).bytes(3000))
    (tmp_path / "mixed" / "empty.dcm").write_bytes(b"")
    shutil.copy(pydicom_file("MR_truncated.dcm"), tmp_path / "mixed" / "trunc.dcm")
    result = scan(tmp_path / "mixed")
    shapes = sorted(c.shape[0] for c in result.found)
    assert shapes == [4, 6]
    assert all(c.reader == "dicom" and c.kind == "3d" for c in result.found)
    assert len({c.name for c in result.found}) == 2  # one folder, two series: distinct names
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(reasons) == {"notes.txt", "random.dcm", "empty.dcm", "trunc.dcm"}
    assert "empty" in reasons["empty.dcm"]
    assert "truncated" in reasons["trunc.dcm"]
    for candidate in result.found:
        _no_patient_fields(candidate.meta)


def test_scan_hash_ignores_file_names(tmp_path: Path) -> None:
    write_series(tmp_path / "a", 5, seed=3)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    for i, path in enumerate(sorted((tmp_path / "b").iterdir())):
        path.rename(path.with_name(f"renamed{i}.dcm"))
    first, second = scan(tmp_path / "a").found, scan(tmp_path / "b").found
    assert first[0].content_hash == second[0].content_hash
    # Scanned together, the copy's files are the same instances: reported, not a 2nd series.
    together = scan([tmp_path / "a", tmp_path / "b"])
    assert len(together.found) == 1
    assert len(together.skipped) == 5 and all("same image" in s.reason for s in together.skipped)


def test_radiographs_in_one_series_stay_separate(tmp_path: Path) -> None:
    from pydicom.uid import generate_uid

    uid = generate_uid()
    for k in range(3):
        write_slice(
            tmp_path / f"view{k}.dcm",
            np.full((6, 5), k, dtype=np.uint16),
            series_uid=uid,
            instance=k + 1,
            position=None,
            orientation=None,
            modality="DX",
            intercept=0.0,
        )
    found = scan(tmp_path).found
    assert sorted(c.name for c in found) == ["view0", "view1", "view2"]
    assert all(c.kind == "2d" and c.shape == (1, 6, 5) for c in found)


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    import pydicom
    from pydicom.uid import generate_uid

    pixels = np.array([[0, 100], [60000, 65535]], dtype=np.uint16)
    path = write_slice(
        tmp_path / "cr.dcm",
        pixels,
        series_uid=generate_uid(),
        instance=1,
        position=None,
        modality="CR",
        intercept=0.0,
    )
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(path)
    image = read_image(path)
    np.testing.assert_array_equal(image.array[0], [[65535, 65435], [5535, 0]])
    assert image.metadata["notes"]


@settings(max_examples=20, deadline=None)
@given(
    angles=st.tuples(*[st.floats(-3.1, 3.1, allow_nan=False)] * 3),
    step=st.floats(0.3, 6.0),
    seed=st.integers(0, 1000),
)
def test_any_orientation_sorts_along_the_normal(angles, step: float, seed: int) -> None:
    """Rotated planes, random slice steps, shuffled files: slices come out in order and the
    geometry maps voxel (k, 0, 0) to where slice k was written."""
    import tempfile

    a, b, c = angles
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    rotation = rz @ ry @ rx
    orientation = (*rotation[:, 0], *rotation[:, 1])
    with tempfile.TemporaryDirectory() as temp:
        write_series(Path(temp), 5, (4, 3), step=step, orientation=orientation, seed=seed)
        image = read_image(temp)
    np.testing.assert_array_equal(image.array[:, 2, 2], 10 * np.arange(5) - 24)
    assert image.spacing[0] == pytest.approx(step, rel=1e-4)
    assert image.direction[:, 0] == pytest.approx(rotation[:, 2], abs=1e-6)
    origin = np.array([-30.0, 12.0, 100.0])
    assert image.index_to_world((3, 0, 0)) == pytest.approx(origin + 3 * step * rotation[:, 2])
