"""Issue 10, "reading what is on disk correctly": files that were read wrongly or named
wrongly. Every file is generated here in its real format (pydicom, tifffile, a PNG encoder
with real row filters, numpy archives)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from io_helpers import write_series

from medview.core.errors import ReadError
from medview.io.importer import import_sources
from medview.io.readers import load_item, read_image, scan

RLE = "1.2.840.10008.1.2.5"


# ============================================================ truncated compressed slice
def _cut(path: Path) -> None:
    """Cut the file in the middle of its pixel data (as an interrupted copy does)."""
    import pydicom

    with open(path, "rb") as handle:
        pydicom.dcmread(handle, stop_before_pixels=True)
        pixels_at = handle.tell()
    data = path.read_bytes()
    path.write_bytes(data[: pixels_at + (len(data) - pixels_at) // 2])


def test_truncated_compressed_slice_is_named_at_import(project, tmp_path: Path) -> None:
    paths = write_series(tmp_path / "data" / "ct", count=6, size=(32, 32), compress=RLE)
    victim = paths[3]
    full = victim.stat().st_size
    _cut(victim)
    cut = victim.stat().st_size

    report = import_sources(project, [tmp_path / "data"])
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert victim.name in skipped, report.summary_lines()
    reason = skipped[victim.name]
    assert reason.startswith("truncated")
    # Expected against actual size: the fragment's declared end, and the file length.
    assert f"the file has {cut:,}" in reason
    needed = int(reason.split("needs at least ")[1].split(" bytes")[0].replace(",", ""))
    assert cut < needed <= full
    # The series is stored with the slices it really has.
    (item,) = project.items()
    assert item.shape[0] == 5 and len(item.paths) == 5
    assert str(victim) not in item.paths
    assert load_item(project, item).shape[0] == 5


def test_slice_cut_inside_its_header_is_named_truncated(project, tmp_path: Path) -> None:
    """A copy interrupted before the pixel data: "truncated", not "without an image"."""
    paths = write_series(tmp_path / "data" / "ct", count=4, size=(16, 16), compress=RLE)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[:500])
    report = import_sources(project, [tmp_path / "data"])
    (skipped,) = report.skipped
    assert skipped.path == str(paths[2])
    assert skipped.reason.startswith("truncated") and "byte 500" in skipped.reason
    assert project.items()[0].shape[0] == 3


def test_truncated_compressed_slice_named_at_load_too(tmp_path: Path) -> None:
    """Loading the files directly (a folder opened, not imported): the warning says
    truncated, not "DICOM file without an image"."""
    paths = write_series(tmp_path / "ct", count=4, size=(32, 32), compress=RLE)
    _cut(paths[1])
    image = read_image(tmp_path / "ct")
    assert image.shape[0] == 3
    warning = next(w for w in image.metadata["warnings"] if paths[1].name in w)
    assert "truncated" in warning and "without an image" not in warning


# ============================================================ SEG, RTSTRUCT, PR, SR, KO
def _non_image(path: Path, sop_class: str, modality: str, *, seg_pixels: bool = False) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.SeriesNumber = 99
    if seg_pixels:  # a binary segmentation: 2 frames of 24 x 20, 1 bit a pixel
        ds.SegmentationType = "BINARY"
        segment = Dataset()
        segment.SegmentNumber = 1
        segment.SegmentLabel = "tumour"
        ds.SegmentSequence = Sequence([segment])
        ds.Rows, ds.Columns, ds.NumberOfFrames = 24, 20, 2
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 1
        ds.HighBit = 0
        ds.PixelRepresentation = 0
        ds.PixelData = np.packbits(np.ones(2 * 24 * 20, np.uint8), bitorder="little").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


NON_IMAGES = [
    ("seg.dcm", "1.2.840.10008.5.1.4.1.1.66.4", "SEG", "segmentation (SEG)"),
    ("rtstruct.dcm", "1.2.840.10008.5.1.4.1.1.481.3", "RTSTRUCT", "structure set (RTSTRUCT)"),
    ("pr.dcm", "1.2.840.10008.5.1.4.1.1.11.1", "PR", "presentation state (PR)"),
    ("sr.dcm", "1.2.840.10008.5.1.4.1.1.88.33", "SR", "structured report (SR)"),
    ("ko.dcm", "1.2.840.10008.5.1.4.1.1.88.59", "KO", "key object selection (KO)"),
]


def test_seg_rtstruct_pr_sr_ko_are_skipped_with_their_type(project, tmp_path: Path) -> None:
    data = tmp_path / "study"
    write_series(data / "ct", count=4, size=(24, 20))
    for name, sop_class, modality, _ in NON_IMAGES:
        _non_image(data / "ct" / name, sop_class, modality, seg_pixels=modality == "SEG")
    report = import_sources(project, [data])
    assert [i.name for i in report.imported] == ["ct"]  # the CT only: no SEG "image"
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    for name, _, _, kind in NON_IMAGES:
        assert kind in skipped[name] and "not an image" in skipped[name]
    text = "\n".join(report.summary_lines())
    assert "segmentation (SEG)" in text and "structured report (SR)" in text
    # Opening the SEG file on its own says what it is too.
    with pytest.raises(ReadError, match=r"segmentation \(SEG\)"):
        read_image(data / "ct" / "seg.dcm")


# ============================================================ OME-TIFF / ImageJ channels
def _channels(count: int, shape: tuple[int, int] = (6, 7)) -> np.ndarray:
    """(count, y, x) with channel k filled with 1000 * (k + 1) + the pixel index."""
    plane = np.arange(shape[0] * shape[1], dtype=np.uint16).reshape(shape)
    return np.stack([plane + 1000 * (k + 1) for k in range(count)])


def test_ome_tiff_cyx_is_one_three_channel_image(tmp_path: Path) -> None:
    import tifffile

    data = _channels(3)
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "CYX"}, photometric="minisblack")
    image = read_image(path)
    assert image.kind == "2d" and image.array.shape == (1, 6, 7, 3)
    np.testing.assert_array_equal(image.array[0], np.moveaxis(data, 0, -1))
    assert image.array.dtype == np.uint16
    assert image.metadata["channels"] == 3
    (found,) = scan(path).found
    assert found.shape == (1, 6, 7, 3) and found.kind == "2d"
    assert found.name == "cells"  # not "cells.ome"


@pytest.mark.parametrize("layout", ["imagej-ZCYX", "ome-ZCYX", "ome-ZYXC"])
def test_volume_with_channels_keeps_z_and_channels(tmp_path: Path, layout: str) -> None:
    import tifffile

    z = 4
    volume = np.stack([_channels(3) + 10 * k for k in range(z)])  # (z, c, y, x)
    path = tmp_path / "stack.tif"
    if layout == "imagej-ZCYX":
        tifffile.imwrite(path, volume, imagej=True, metadata={"axes": "ZCYX"})
    elif layout == "ome-ZCYX":
        tifffile.imwrite(
            path, volume, ome=True, metadata={"axes": "ZCYX"}, photometric="minisblack"
        )
    else:
        tifffile.imwrite(
            path,
            np.moveaxis(volume, 1, -1),
            ome=True,
            metadata={"axes": "ZYXC"},
            photometric="minisblack",
            planarconfig="contig",
        )
    image = read_image(path)
    assert image.array.shape == (z, 6, 7, 3)
    np.testing.assert_array_equal(image.array, np.moveaxis(volume, 1, -1))
    assert scan(path).found[0].shape == (z, 6, 7, 3)


def test_more_channels_than_shown_are_named(tmp_path: Path) -> None:
    import tifffile

    data = _channels(5)
    path = tmp_path / "five.ome.tif"
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "CYX"}, photometric="minisblack")
    image = read_image(path)
    assert image.array.shape == (1, 6, 7, 3)
    np.testing.assert_array_equal(image.array[0], np.moveaxis(data[:3], 0, -1))
    (warning,) = image.metadata["warnings"]
    assert "5 channels" in warning and "channels 4-5 are not shown" in warning
    # The scan stores the same warning with the item.
    assert scan(path).found[0].meta["warnings"] == [warning]


def test_two_channels_become_a_red_green_composite(tmp_path: Path) -> None:
    import tifffile

    data = _channels(2)
    path = tmp_path / "two.ome.tif"
    tifffile.imwrite(path, data, ome=True, metadata={"axes": "CYX"}, photometric="minisblack")
    image = read_image(path)
    assert image.array.shape == (1, 6, 7, 3)
    np.testing.assert_array_equal(image.array[0, ..., :2], np.moveaxis(data, 0, -1))
    assert not image.array[..., 2].any()
    assert any("2 channels" in n for n in image.metadata["notes"])


# ============================================================ 16-bit RGB PNG
def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def write_png16(path: Path, pixels: np.ndarray) -> Path:
    """A 16-bit PNG (colour type 2 RGB, 6 RGBA or 4 grey + alpha) with every row filter
    type in turn (None, Sub, Up, Average, Paeth), as libpng's adaptive filtering writes."""
    height, width, channels = pixels.shape
    colour_type = {3: 2, 4: 6, 2: 4}[channels]
    bpp = 2 * channels
    rows = [pixels[y].astype(">u2").tobytes() for y in range(height)]
    out = bytearray()
    previous = bytes(len(rows[0]))
    for y, row in enumerate(rows):
        kind = y % 5
        filtered = bytearray()
        for i, value in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            filtered.append((value - predictor) % 256)
        out += bytes([kind]) + filtered
        previous = row

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(out)))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize("channels", [3, 4, 2], ids=["rgb", "rgba", "grey-alpha"])
def test_16_bit_colour_png_keeps_16_bits(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(channels)
    pixels = rng.integers(0, 65536, (9, 11, channels), dtype=np.uint16)
    pixels[0, 0, 0] = 65535  # a value 8 bits cannot hold
    path = write_png16(tmp_path / "scan.png", pixels)
    image = read_image(path)
    assert image.array.dtype == np.uint16
    if channels == 2:  # grey + alpha: the grey, all 16 bits
        np.testing.assert_array_equal(image.array[0], pixels[..., 0])
    else:  # alpha dropped, as for 8-bit RGBA
        np.testing.assert_array_equal(image.array[0], pixels[..., :3])
    assert scan(path).found[0].shape == ((1, 9, 11, 3) if channels != 2 else (1, 9, 11))


# ============================================================ npz labels
@pytest.mark.parametrize(
    ("bad", "shown"),
    [(np.nan, "nan"), (-3, "-3"), (1e12, "1000000000000.0"), (2.5, "2.5")],
    ids=["nan", "negative", "huge", "fraction"],
)
def test_npz_labels_that_are_not_class_indices_are_refused(
    project, tmp_path: Path, bad: float, shown: str
) -> None:
    images = np.random.default_rng(0).integers(0, 255, (5, 8, 8), dtype=np.uint8)
    labels = np.array([0, 1, 0, 1, 0], dtype=np.float64 if isinstance(bad, float) else np.int64)
    labels[3] = bad
    path = tmp_path / "set.npz"
    np.savez(path, train_images=images, train_labels=labels[:, None])
    report = import_sources(project, [path])
    assert not report.imported
    (skipped,) = report.skipped
    assert skipped.path.endswith("set.npz")
    assert "train_labels[3]" in skipped.reason and shown in skipped.reason.lower()
    assert project.class_names() == ["WT", "MUT"]  # no class "1000000000000"


def test_npz_whole_float_labels_still_import(project, tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 255, (4, 8, 8), dtype=np.uint8)
    path = tmp_path / "set.npz"
    np.savez(path, train_images=images, train_labels=np.array([[0.0], [1.0], [1.0], [0.0]]))
    report = import_sources(project, [path])
    assert report.counts == {"MUT": 2, "WT": 2}


# ============================================================ --label-from folder:N
def _patient_class_tree(root: Path) -> dict[str, str]:
    """root/patientNNN/<class>/imgK.png: 6 patients, 2 images each. Returns name -> class."""
    from io_helpers import write_png

    truth = {}
    for p in range(6):
        klass = ("benign", "malignant")[p % 2]
        for k in range(2):
            name = f"p{p}_img{k}"
            write_png(root / f"patient{p:03d}" / klass / f"{name}.png", (6, 6), seed=10 * p + k)
            truth[name] = klass
    return truth


def test_patient_folders_are_not_taken_as_classes(project, tmp_path: Path) -> None:
    from medview.core.errors import MedviewError

    truth = _patient_class_tree(tmp_path / "data")
    with pytest.raises(MedviewError) as caught:
        import_sources(project, [tmp_path / "data"], label_from="folder")
    message = str(caught.value)
    assert "patient000" in message and "Nothing was imported" in message
    assert "--label-from folder:1 gives benign (6), malignant (6)" in message
    assert project.item_count() == 0 and project.class_names() == ["WT", "MUT"]

    report = import_sources(project, [tmp_path / "data"], label_from="folder:1")
    assert report.counts == {"benign": 6, "malignant": 6}
    assert {i.name: i.label for i in project.items()} == truth
    assert not report.notes


def test_an_explicit_level_that_gives_identifiers_is_imported_with_a_note(
    project, tmp_path: Path
) -> None:
    """folder:N is the user's choice: imported as asked, with a note offering the level
    that gives classes."""
    _patient_class_tree(tmp_path / "data")
    report = import_sources(project, [tmp_path / "data"], label_from="folder:2")
    assert len(report.imported) == 12
    (note,) = [n for n in report.notes if "folder:2" in n]
    assert "named like identifiers" in note and "folder:1 gives benign (6)" in note


def test_folder_level_for_dicom_series(project, tmp_path: Path) -> None:
    """root/Pn/<class>/series/*.dcm: one series a patient (many classes of one item each);
    the class is two levels up from the files."""
    from medview.core.errors import MedviewError

    for p in range(5):
        klass = ("benign", "malignant")[p % 2]
        write_series(tmp_path / "data" / f"P{p}" / klass / "s1", count=3, size=(8, 8), seed=p)
    with pytest.raises(MedviewError, match=r"5 new classes with one item each.*folder:2 gives"):
        import_sources(project, [tmp_path / "data"], label_from="folder")
    report = import_sources(project, [tmp_path / "data"], label_from="folder:2")
    assert report.counts == {"benign": 3, "malignant": 2}


def test_folders_named_like_project_classes_need_no_level(project, tmp_path: Path) -> None:
    """root/patient/WT/file with WT and MUT already the project's classes: the nearest
    class folder is found, nothing is refused."""
    from io_helpers import write_png

    for p in range(6):
        write_png(
            tmp_path / "data" / f"patient{p:03d}" / ("WT", "MUT")[p % 2] / "a.png", (5, 5), seed=p
        )
    report = import_sources(project, [tmp_path / "data"], label_from="folder")
    assert report.counts == {"MUT": 3, "WT": 3} and not report.added_classes


def test_label_from_folder_level_on_the_command_line(tmp_path: Path) -> None:
    from rb_helpers import run_cli

    _patient_class_tree(tmp_path / "data")
    assert run_cli("new", tmp_path / "p").returncode == 0  # WT, MUT
    refused = run_cli("import", tmp_path / "p", tmp_path / "data", "--label-from", "folder")
    assert refused.returncode == 1
    assert "folder:1" in refused.stderr and "Traceback" not in refused.stderr
    ok = run_cli("import", tmp_path / "p", tmp_path / "data", "--label-from", "folder:1")
    assert ok.returncode == 0, ok.stderr
    assert "per class: benign: 6, malignant: 6" in ok.stdout
    bad = run_cli("import", tmp_path / "p", tmp_path / "data", "--label-from", "folder:x")
    assert bad.returncode == 2 and "folder:N" in bad.stderr


# ============================================================ a slice deleted after import
def test_deleted_slice_loads_the_rest_with_a_warning_naming_it(project, tmp_path: Path) -> None:
    paths = write_series(tmp_path / "data" / "ct", count=10, size=(12, 12))
    import_sources(project, [tmp_path / "data"])
    (item,) = project.items()
    victim = paths[4]  # a middle slice (paths are in slice order)
    victim.unlink()
    image = load_item(project, project.get_item(item.id))
    assert image.shape == (9, 12, 12)
    first = image.metadata["warnings"][0]
    assert victim.name in first and "missing" in first
    assert image.metadata["missing_files"] == [victim.name]
    # The other slices keep their order: HU 10 k - 24 for slice k, slice 4 left out.
    assert [int(image.array[k, 5, 5]) for k in range(9)] == [
        10 * k - 24 for k in range(10) if k != 4
    ]


def test_deleted_slices_after_the_project_moved_name_the_files(project, tmp_path: Path) -> None:
    """Project and data moved together (absolute paths dead, relative ones alive): the
    missing file is named where the data is now, not at the old location."""
    import shutil

    from medview.core.project import Project

    write_series(project.folder.parent / "data" / "ct", count=6, size=(8, 8))
    import_sources(project, [project.folder.parent / "data"])
    folder = project.folder
    project.close()
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(str(folder), moved / folder.name)
    shutil.move(str(folder.parent / "data"), moved / "data")
    with Project.open(moved / folder.name) as again:
        (item,) = again.items()
        victim = moved / "data" / "ct" / Path(item.paths[2]).name
        victim.unlink()
        image = load_item(again, item)
        assert image.shape[0] == 5
        assert victim.name in image.metadata["warnings"][0]
        # Every slice gone: the error names a file where the data is now.
        for path in (moved / "data" / "ct").iterdir():
            path.unlink()
        with pytest.raises(ReadError) as caught:
            load_item(again, item)
        assert str(moved / "data" / "ct") in caught.value.path


def test_relink_says_why_a_series_did_not_match(project, tmp_path: Path) -> None:
    import shutil

    from io_helpers import write_png

    from medview.io.relink import relink_report

    write_series(tmp_path / "data" / "ct", count=8, size=(8, 8))
    write_series(tmp_path / "data" / "mr", count=4, size=(8, 8), seed=3)
    write_png(tmp_path / "data" / "photo.png", (6, 6), seed=1)
    import_sources(project, [tmp_path / "data"])
    items = {i.name: i for i in project.items()}
    shutil.move(tmp_path / "data", tmp_path / "elsewhere")
    ct = sorted((tmp_path / "elsewhere" / "ct").iterdir())
    for path in ct[:3]:
        path.unlink()  # 3 of 8 slices gone
    write_png(tmp_path / "elsewhere" / "photo.png", (6, 6), seed=2)  # same name, new content

    report = relink_report(project, tmp_path / "elsewhere")
    assert set(report.relinked) == {items["mr"].id}  # the intact series is found again
    why_ct = report.unmatched[items["ct"].id]
    assert "3 of 8 slices missing" in why_ct and ct[0].name in why_ct
    assert "hash differs" in report.unmatched[items["photo"].id]
    assert len(report.lines()) == 2


def test_relink_reasons_on_the_command_line(tmp_path: Path) -> None:
    import shutil

    from rb_helpers import run_cli

    write_series(tmp_path / "data" / "ct", count=5, size=(8, 8))
    assert run_cli("new", tmp_path / "p").returncode == 0
    assert run_cli("import", tmp_path / "p", tmp_path / "data").returncode == 0
    shutil.move(tmp_path / "data", tmp_path / "moved")
    next((tmp_path / "moved" / "ct").iterdir()).unlink()
    result = run_cli("relink", tmp_path / "p", tmp_path / "moved")
    assert result.returncode == 0, result.stderr
    assert "re-linked 0 of 1 missing item(s)" in result.stdout
    assert "ct: 1 of 5 slices missing" in result.stdout
