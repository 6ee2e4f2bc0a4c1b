"""Helpers for the io tests: files the packages ship and generators for the rest.

(A uniquely named module rather than conftest imports, which clash between test folders.)"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

PYDICOM_FILES = Path(__import__("pydicom").__file__).parent / "data" / "test_files"
NIBABEL_FILES = Path(__import__("nibabel").__file__).parent / "tests" / "data"
# ../shared/data from the repository root; absent in a user's clone (tests skip then).
PNEUMONIA_NPZ = Path(__file__).resolve().parents[3] / "shared/data/pneumoniamnist_balanced.npz"


def pydicom_file(name: str) -> Path:
    """A test file shipped inside the pydicom wheel. Never ``get_testdata_file``: for files
    not in the wheel it tries to download them, and these machines are offline."""
    path = PYDICOM_FILES / name
    if not path.is_file():
        pytest.skip(f"pydicom test file {name} not installed")
    return path


def nibabel_file(name: str) -> Path:
    path = NIBABEL_FILES / name
    if not path.is_file():
        pytest.skip(f"nibabel test file {name} not installed")
    return path


def write_slice(
    path: Path,
    pixels: np.ndarray,
    *,
    series_uid: str,
    instance: int | None,
    position: Sequence[float] | None,
    orientation: Sequence[float] | None = (1, 0, 0, 0, 1, 0),
    spacing: Sequence[float] = (0.7, 0.8),
    slope: float = 1.0,
    intercept: float = -1024.0,
    modality: str = "CT",
    description: str = "test series",
    compress: str | None = None,
) -> Path:
    """One single-frame DICOM file written with pydicom (int16 or uint16 pixels)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid
    ds.Modality = modality
    ds.SeriesDescription = description
    ds.SeriesNumber = 3
    ds.PatientName = "Secret^Person"  # must never reach medview's metadata
    ds.PatientID = "SECRET-ID-123"
    if instance is not None:
        ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [float(v) for v in spacing]
    ds.SliceThickness = 2.5
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    if compress:
        ds.compress(compress, encoding_plugin="pylibjpeg" if "RLE" not in compress else "")
    ds.save_as(path, enforce_file_format=True)
    return path


def write_series(
    folder: Path,
    count: int = 40,
    size: tuple[int, int] = (24, 20),
    *,
    step: float = 2.5,
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    series_uid: str | None = None,
    shuffle: bool = True,
    seed: int = 0,
    description: str = "test series",
    compress: str | None = None,
) -> list[Path]:
    """A series whose slice k holds raw value 1000 + 10 k (HU = 10 k - 24), positions k * step
    along the slice normal, with shuffled file names and InstanceNumbers unrelated to the
    position order. Returns the paths in true slice order."""
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    rng = random.Random(seed)
    names = [f"IM{n:05d}" for n in rng.sample(range(10000, 99999), count)]
    instances = list(range(1, count + 1))
    if shuffle:
        rng.shuffle(instances)
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:], dtype=float)
    normal = np.cross(row, col)
    origin = np.array([-30.0, 12.0, 100.0])
    paths = []
    for k in range(count):
        pixels = np.full(size, 1000 + 10 * k, dtype=np.int16)
        pixels[0, 0] = 0  # a corner marker: HU -1024
        paths.append(
            write_slice(
                folder / f"{names[k]}.dcm",
                pixels,
                series_uid=series_uid,
                instance=instances[k],
                position=origin + k * step * normal,
                orientation=orientation,
                description=description,
                compress=compress,
            )
        )
    return paths


def write_png(path: Path, shape: tuple[int, ...], seed: int = 0) -> Path:
    from PIL import Image as PILImage

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    PILImage.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(path)
    return path


def transcode_jpegls(source: Path, folder: Path) -> list[Path]:
    """JPEG-LS copies of a folder's files, written by GDCM (pydicom has no JPEG-LS encoder
    without pyjpegls). Skips the test when python-gdcm is missing."""
    gdcm = pytest.importorskip("gdcm")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source.iterdir()):
        reader = gdcm.ImageReader()
        reader.SetFileName(str(path))
        assert reader.Read()
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLSLossless))
        change.SetInput(reader.GetImage())
        assert change.Change()
        writer = gdcm.ImageWriter()
        writer.SetFileName(str(folder / path.name))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        assert writer.Write()
        written.append(folder / path.name)
    return written
