"""Synthetic DICOM series in every common transfer syntax (bench and tests share it).

A smooth CT-like phantom with noise (compressible like real CT, not trivially so), int16
stored values with slope 1 and intercept -1024, files written in shuffled order. The codestreams
come from imagecodecs (libjpeg-turbo for JPEG baseline and lossless Process 14 SV1, CharLS for
JPEG-LS, OpenJPEG for JPEG 2000) and pylibjpeg-rle for RLE, so no GDCM is needed to make them.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

SYNTAXES = {
    "explicit_le": "1.2.840.10008.1.2.1",
    "rle": "1.2.840.10008.1.2.5",
    "jpeg_baseline": "1.2.840.10008.1.2.4.50",
    "jpeg_lossless_sv1": "1.2.840.10008.1.2.4.70",
    "jpegls_lossless": "1.2.840.10008.1.2.4.80",
    "j2k_lossless": "1.2.840.10008.1.2.4.90",
    "j2k_lossy": "1.2.840.10008.1.2.4.91",
}


def phantom(size: int, k: int, count: int) -> np.ndarray:
    """Stored values 0..4095 of a body-like slice (HU + 1024)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    radius = 0.35 + 0.05 * np.sin(k / max(count, 1) * np.pi)
    body = (x**2 + (y * 1.3) ** 2) < radius**2
    organ = ((x - 0.1) ** 2 + (y + 0.05) ** 2) < 0.01 + 0.005 * np.cos(k / 7)
    rng = np.random.default_rng(k)
    hu = np.where(body, 40.0, -1000.0) + np.where(organ, 60.0, 0.0)
    hu = hu + rng.normal(0, 12, hu.shape) * body
    return (hu + 1024).clip(0, 4095).astype(np.int16)


def encode(name: str, pixels: np.ndarray) -> bytes:
    """One frame's codestream (or raw bytes) for syntax ``name``."""
    import imagecodecs

    if name == "explicit_le":
        return pixels.tobytes()
    if name == "jpeg_baseline":
        return imagecodecs.jpeg8_encode(pixels, level=90)
    unsigned = pixels.view(np.uint16) if pixels.dtype == np.int16 else pixels
    if name == "jpeg_lossless_sv1":
        return imagecodecs.jpeg8_encode(unsigned, lossless=True, predictor=1, bitspersample=16)
    if name == "jpegls_lossless":
        return imagecodecs.jpegls_encode(unsigned, level=0)
    if name == "j2k_lossless":
        return imagecodecs.jpeg2k_encode(unsigned, level=0, codecformat="J2K", reversible=True)
    if name == "j2k_lossy":
        return imagecodecs.jpeg2k_encode(unsigned, level=40, codecformat="J2K", reversible=False)
    raise ValueError(name)


def write_series(
    folder: Path, name: str, count: int, size: int, corrupt: int | None = None
) -> list[Path]:
    """Write ``count`` slices of syntax ``name``; returns the paths in slice order.
    ``corrupt``: the slice whose codestream is cut to garbage (a damaged file)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import CTImageStorage, RLELossless, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series = generate_uid()
    order = list(range(count))
    random.Random(0).shuffle(order)
    paths: list[Path | None] = [None] * count
    eight_bit = name == "jpeg_baseline"  # baseline JPEG is 8-bit: an ultrasound-like series
    for file_index, k in enumerate(order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = SYNTAXES[name]
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = series
        ds.Modality = "CT"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-250.0, -250.0, 1.25 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.9765625, 0.9765625]
        ds.SliceThickness = 1.25
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        pixels = phantom(size, k, count)
        if eight_bit:
            pixels = (pixels // 16).astype(np.uint8)
            ds.BitsAllocated = ds.BitsStored = 8
            ds.HighBit = 7
            ds.PixelRepresentation = 0
        else:
            ds.RescaleSlope = 1
            ds.RescaleIntercept = -1024
            ds.BitsAllocated = 16
            ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = 1
        if name == "rle":
            meta.TransferSyntaxUID = SYNTAXES["explicit_le"]
            ds.PixelData = pixels.tobytes()
            ds["PixelData"].VR = "OW"
            ds.compress(RLELossless, encoding_plugin="pylibjpeg")
        elif name == "explicit_le":
            ds.PixelData = pixels.tobytes()
            ds["PixelData"].VR = "OW"
        else:
            data = encode(name, pixels)
            if corrupt == k:
                data = data[:64] + bytes(len(data) - 64)
            ds.PixelData = encapsulate([data])
            ds["PixelData"].VR = "OB"
            if name == "j2k_lossy" or name == "jpeg_baseline":
                ds.LossyImageCompression = "01"
        if corrupt == k and name in ("rle", "explicit_le"):
            ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]
        path = folder / f"f{file_index:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths[k] = path
    return [p for p in paths if p is not None]
