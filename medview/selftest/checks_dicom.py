"""Self-test check of DICOM decoding: pylibjpeg's plugins, lossless round trips, and
medview.io's threaded series decoder and its bundled codec (imagecodecs)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from medview.selftest.base import CheckFailed, Context


def check_dicom(ctx: Context) -> str:
    """Decode compressed DICOM: pydicom's own files when present, else in-memory encodings."""
    import numpy as np
    from pydicom.pixels import pixel_array
    from pydicom.pixels.decoders import (
        JPEG2000LosslessDecoder,
        JPEGLSLosslessDecoder,
        RLELosslessDecoder,
    )

    notes: list[str] = []
    # pylibjpeg finds its libjpeg/openjpeg/rle plugins through entry points in the packages'
    # metadata; a bundle that lost the metadata still imports them but decodes nothing.
    for label, decoder in (
        ("RLE", RLELosslessDecoder),
        ("JPEG-LS", JPEGLSLosslessDecoder),
        ("JPEG 2000", JPEG2000LosslessDecoder),
    ):
        plugins = list(decoder.available_plugins)
        if "pylibjpeg" not in plugins:
            why = decoder.missing_dependencies or ["pylibjpeg plugin not registered"]
            raise CheckFailed(f"{label}: no pylibjpeg decoder ({'; '.join(why)})")
        notes.append(f"{label} via {'/'.join(plugins)}")

    decoded: list[str] = []
    reference = _testdata("MR_small.dcm")
    expected = pixel_array(reference) if reference else None
    for name in ("MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_J2KR.dcm"):
        path = _testdata(name)
        if path is None:
            continue
        for plugin in ("", "pylibjpeg"):  # the default choice, and explicitly the plugin
            arr = pixel_array(path, decoding_plugin=plugin)
            if arr.shape != (64, 64):
                raise CheckFailed(f"{name}: decoded shape {arr.shape}, expected (64, 64)")
            if expected is not None and not np.array_equal(arr, expected):
                raise CheckFailed(f"{name}: lossless decode differs from MR_small.dcm")
        decoded.append(name)

    # Always also round-trip an image encoded here: proves the encoders, and covers a bundle
    # that ships without pydicom's test files.
    decoded += _roundtrip_in_memory(ctx.workdir)
    return f"decoded {', '.join(decoded)}; {'; '.join(notes)}"


def _test_image(offset: int = 0) -> Any:
    """A 48 x 40 12-bit image with structure and noise (compresses, but not to nothing)."""
    import numpy as np

    rng = np.random.default_rng(offset)
    image = (np.arange(48 * 40, dtype=np.int64).reshape(48, 40) * 7 + offset * 101) % 4096
    return ((image + rng.integers(0, 64, image.shape)) % 4096).astype(np.uint16)


def _dicom_dataset(image: Any, uid: str, encoder: str, series: dict[str, Any] | None = None) -> Any:
    """A compressed single-frame dataset; with ``series`` an MR slice of one series."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import MRImageStorage, SecondaryCaptureImageStorage, generate_uid

    sop_class = MRImageStorage if series else SecondaryCaptureImageStorage
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR" if series else "OT"
    ds.Rows, ds.Columns = image.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if series:
        ds.StudyInstanceUID = series["study"]
        ds.SeriesInstanceUID = series["series"]
        ds.FrameOfReferenceUID = series["frame"]
        ds.SeriesNumber = 1
        ds.InstanceNumber = series["index"] + 1
        ds.ImagePositionPatient = [0.0, 0.0, 2.0 * series["index"]]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [1.0, 1.0]
        ds.SliceThickness = 2.0
    ds.compress(uid, image, encoding_plugin=encoder)
    return ds


def _roundtrip_in_memory(workdir: Path) -> list[str]:
    import numpy as np
    from pydicom.filereader import dcmread
    from pydicom.pixels import pixel_array
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.pixels.encoders import JPEG2000LosslessEncoder
    from pydicom.uid import JPEG2000Lossless, RLELossless

    image = _test_image()
    done: list[str] = []
    codecs = [(RLELossless, "RLE", "pydicom")]
    if JPEG2000LosslessEncoder.is_available:
        codecs.append((JPEG2000Lossless, "JPEG 2000", "pylibjpeg"))
    for uid, label, encoder in codecs:
        buffer = io.BytesIO()
        _dicom_dataset(image, uid, encoder).save_as(buffer, enforce_file_format=True)
        buffer.seek(0)
        loaded = dcmread(buffer)
        for plugin in get_decoder(uid).available_plugins:
            arr = pixel_array(loaded, decoding_plugin=plugin)
            if not np.array_equal(arr, image):
                raise CheckFailed(f"in-memory {label}: decoding with {plugin} is not lossless")
        done.append(f"in-memory {label}")
        # And through medview's own DICOM reader, as an import of that file would.
        path = workdir / f"selftest-{label.replace(' ', '')}.dcm"
        path.write_bytes(buffer.getvalue())
        done.append(f"{label} via medview.io ({_read_with_medview(path, image)})")
    if JPEG2000LosslessEncoder.is_available:
        done.append(_read_series_threaded(workdir))
    return done


def _read_series_threaded(workdir: Path) -> str:
    """A JPEG 2000 series read by medview.io: its threaded decoder and the codec it picks
    (imagecodecs, a binary wheel a frozen build can leave out) are what this checks."""
    import numpy as np
    from pydicom.uid import JPEG2000Lossless, generate_uid

    from medview.io import dicom_codecs
    from medview.io.readers import read_image

    slices = 8
    folder = workdir / "j2k-series"
    folder.mkdir(exist_ok=True)
    uids = {"study": generate_uid(), "series": generate_uid(), "frame": generate_uid()}
    expected = [_test_image(z) for z in range(slices)]
    for z, image in enumerate(expected):
        ds = _dicom_dataset(image, JPEG2000Lossless, "pylibjpeg", {**uids, "index": z})
        ds.save_as(folder / f"slice{z:02d}.dcm", enforce_file_format=True)
    volume = np.asarray(read_image(folder).array)
    if volume.shape[0] != slices or not all(
        np.allclose(volume[z], expected[z]) for z in range(slices)
    ):
        raise CheckFailed(f"JPEG 2000 series: read shape {volume.shape}, values differ")
    backend = dicom_codecs.choose_backend(JPEG2000Lossless)
    if not dicom_codecs.available("imagecodecs"):
        raise CheckFailed(
            "imagecodecs, medview's fast decoder for the JPEG family, is missing from this build"
        )
    if backend not in ("gdcm", "imagecodecs"):
        raise CheckFailed(f"JPEG 2000 series: decoded by {backend}, not a fast decoder")
    shape = "x".join(str(n) for n in volume.shape)
    return f"{slices}-slice JPEG 2000 series decoded by {backend} on threads ({shape})"


def _read_with_medview(path: Path, expected: Any) -> str:
    import numpy as np

    from medview.io.readers import read_image

    array = np.asarray(read_image(path).array)
    # The reader may rescale (HU) and return floats; the values must still be the same.
    if array.size != expected.size or not np.allclose(array.reshape(expected.shape), expected):
        raise CheckFailed(f"{path.name}: medview read shape {array.shape}, values differ")
    return "x".join(str(n) for n in array.shape)


def _testdata(name: str) -> str | None:
    """A pydicom test file if it is on disk; never download (medview runs offline)."""
    try:
        from pydicom.data import get_testdata_file

        path = get_testdata_file(name, download=False)
    except Exception:
        return None
    return str(path) if path and Path(str(path)).is_file() else None
