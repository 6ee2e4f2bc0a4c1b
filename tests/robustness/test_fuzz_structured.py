"""Structure-aware fuzzing of the readers (hypothesis). tests/io/test_io_fuzz.py throws random
and mutated bytes, which rarely get past a header; here the headers themselves are valid
containers carrying hostile values: any dimensions, data types, offsets, scalings and
spacings in NIfTI; any Rows/Columns/bit depths/frames/photometrics/transfer syntaxes and
pixel-data lengths in DICOM; slices of one series with NaN or repeated positions and mixed
sizes; .npy headers with any shape. The readers may return an image or raise ReadError,
nothing else, and never allocate what a header merely declares.
"""

from __future__ import annotations

import math
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from medview.core.errors import ReadError
from medview.io.readers import read_image, scan

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Memory a reader may use beyond the file itself, whatever the header says.
BUDGET = 64 * 1024 * 1024


def _answer(path: Path) -> None:
    """read_image and scan answer with an image, a ReadError or a skip; nothing else, and
    without allocating far more than the file's own size."""
    tracemalloc.start()
    try:
        try:
            image = read_image(path)
        except ReadError as exc:
            assert exc.path and exc.reason
        else:
            assert image.array.size > 0
        result = scan(path)
        assert len(result.found) + len(result.skipped) == 1
        for skipped in result.skipped:
            assert skipped.reason
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < BUDGET + 8 * path.stat().st_size, f"{peak / 2**20:.0f} MiB for {path.name}"


floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, -1.0, 1e-30, 1e30]),
)


@FUZZ
@given(
    dims=st.lists(st.integers(-5, 32767), min_size=1, max_size=7),
    ndim=st.integers(-3, 9),
    datatype=st.sampled_from([0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 2304]),
    bitpix=st.sampled_from([0, 1, 8, 16, 32, 64, 128, 255]),
    vox_offset=st.sampled_from([0.0, 352.0, 348.0, 1e9, -16.0, float("nan")]),
    pixdim=st.lists(floats, min_size=8, max_size=8),
    slope=floats,
    inter=floats,
    payload=st.integers(0, 4096),
    gz=st.booleans(),
)
def test_nifti_headers_with_hostile_fields(
    dims, ndim, datatype, bitpix, vox_offset, pixdim, slope, inter, payload, gz
) -> None:
    import gzip

    import nibabel as nib

    header = nib.Nifti1Header()
    raw = bytearray(header.binaryblock)
    view = np.frombuffer(raw, dtype=np.uint8)
    fields = np.ndarray((), dtype=header.structarr.dtype, buffer=view)
    full = [ndim] + dims + [1] * (7 - len(dims))
    fields["dim"] = np.array(full[:8], dtype=np.int16)
    fields["datatype"] = datatype
    fields["bitpix"] = bitpix
    fields["vox_offset"] = vox_offset
    fields["pixdim"] = np.array(pixdim, dtype=np.float32)
    fields["scl_slope"] = slope
    fields["scl_inter"] = inter
    data = bytes(raw) + b"\0" * 4 + np.random.default_rng(payload).bytes(payload)
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / ("f.nii.gz" if gz else "f.nii")
        path.write_bytes(gzip.compress(data) if gz else data)
        _answer(path)


@FUZZ
@given(
    rows=st.integers(0, 70000),
    columns=st.integers(0, 70000),
    frames=st.one_of(st.none(), st.integers(-2, 100000)),
    bits=st.sampled_from([0, 1, 7, 8, 12, 16, 24, 32, 64]),
    samples=st.sampled_from([0, 1, 2, 3, 4]),
    photometric=st.sampled_from(
        ["MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "PALETTE COLOR", "BOGUS", ""]
    ),
    syntax=st.sampled_from(
        [
            "1.2.840.10008.1.2.1",  # explicit little
            "1.2.840.10008.1.2",  # implicit little
            "1.2.840.10008.1.2.2",  # explicit big
            "1.2.840.10008.1.2.5",  # RLE
            "1.2.840.10008.1.2.4.50",  # JPEG baseline
            "1.2.840.10008.1.2.4.90",  # JPEG 2000
            "1.2.3.4.5",  # unknown
        ]
    ),
    pixel_bytes=st.integers(0, 3000),
    representation=st.sampled_from([0, 1, 2]),
    spacing=st.lists(st.sampled_from(["0.5", "0", "-1", "nan", "inf", "abc", ""]), max_size=3),
    slope=st.sampled_from(["1", "0", "nan", "1e308", "-inf", "x"]),
)
def test_dicom_headers_with_hostile_fields(
    rows,
    columns,
    frames,
    bits,
    samples,
    photometric,
    syntax,
    pixel_bytes,
    representation,
    spacing,
    slope,
) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = UID(syntax)
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.Rows, ds.Columns = rows, columns
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = max(0, bits - 1)
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    ds.PixelRepresentation = representation
    if spacing:
        ds.add_new(0x00280030, "DS", None)
        ds[0x00280030]._value = "\\".join(spacing)  # raw text: pydicom would validate it
    ds.add_new(0x00281053, "DS", None)
    ds[0x00281053]._value = slope
    ds.PixelData = np.random.default_rng(pixel_bytes).bytes(pixel_bytes)
    big = syntax == "1.2.840.10008.1.2.2"
    implicit = syntax == "1.2.840.10008.1.2"
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / "f.dcm"
        try:
            ds.save_as(path, little_endian=not big, implicit_vr=implicit, enforce_file_format=True)
        except Exception:  # pydicom refused to write it: nothing to read
            assume(False)
        _answer(path)


@FUZZ
@given(
    slices=st.lists(
        st.tuples(
            st.sampled_from([0.0, 2.5, 5.0, float("nan"), float("inf"), 1e300]),
            st.sampled_from([(8, 8), (8, 8), (8, 8), (6, 8), (8, 1)]),
            st.one_of(st.none(), st.integers(-3, 5)),
            st.sampled_from([(1, 0, 0, 0, 1, 0), (0, 0, 0, 0, 0, 0), (1, 0, 0, 1, 0, 0)]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_dicom_series_with_hostile_geometry(slices) -> None:
    from io_helpers import write_slice
    from pydicom.uid import generate_uid

    uid = generate_uid()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        for n, (z, size, instance, orientation) in enumerate(slices):
            write_slice(
                folder / f"s{n}.dcm",
                np.full(size, n, np.int16),
                series_uid=uid,
                instance=instance,
                position=None if math.isinf(z) and z > 0 else (0.0, 0.0, z),
                orientation=orientation,
            )
        try:
            image = read_image(folder)
        except ReadError as exc:
            assert exc.reason
        else:
            assert image.array.ndim >= 3 and np.all(np.isfinite(image.spacing))
        result = scan(folder)
        named = {Path(s.path).name for s in result.skipped}
        used = {Path(p).name for c in result.found for p in c.paths}
        assert named | used == {f"s{n}.dcm" for n in range(len(slices))}


@FUZZ
@given(
    shape=st.lists(st.integers(0, 2**31), min_size=0, max_size=6),
    descr=st.sampled_from(["<f4", "|u1", "<i8", ">f8", "<c16", "|b1", "<U10", "|V8"]),
    fortran=st.booleans(),
    payload=st.integers(0, 2000),
)
def test_npy_headers_with_any_shape(shape, descr, fortran, payload) -> None:
    from numpy.lib import format as npy_format

    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / "a.npy"
        with open(path, "wb") as handle:
            npy_format.write_array_header_1_0(
                handle, {"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}
            )
            handle.write(np.random.default_rng(payload).bytes(payload))
        _answer(path)
