"""Load time of a DICOM series: medview's reader vs a plain pydicom loop vs SimpleITK.

    python bench/load_dicom.py [FOLDER] [--slices 300] [--size 512] [--compressed rle,j2k]
                               [--repeat 3]

Without FOLDER it writes a synthetic CT-like series (int16, slope 1, intercept -1024, files
in shuffled order) into a temporary folder, plus the compressed variants asked for. Prints
one JSON line: the best of ``--repeat`` warm runs, in seconds, per reader and variant.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYNTAXES = {
    "rle": "1.2.840.10008.1.2.5",  # RLE Lossless
    "j2k": "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "jpegls": "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless (needs an encoder: pyjpegls)
}


def phantom(size: int, k: int, count: int) -> np.ndarray:
    """A smooth body-like slice with noise: compressible like real CT, not trivially so."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    radius = 0.35 + 0.05 * np.sin(k / max(count, 1) * np.pi)
    body = (x**2 + (y * 1.3) ** 2) < radius**2
    organ = ((x - 0.1) ** 2 + (y + 0.05) ** 2) < 0.01 + 0.005 * np.cos(k / 7)
    rng = np.random.default_rng(k)
    hu = np.where(body, 40.0, -1000.0) + np.where(organ, 60.0, 0.0)
    hu = hu + rng.normal(0, 12, hu.shape) * body
    return (hu + 1024).clip(0, 4095).astype(np.int16)


def write_series(folder: Path, count: int, size: int, syntax: str | None) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series = generate_uid()
    order = list(range(count))
    random.Random(0).shuffle(order)
    for file_index, k in enumerate(order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
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
        ds.RescaleSlope = 1
        ds.RescaleIntercept = -1024
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.PixelData = phantom(size, k, count).tobytes()
        if syntax:
            ds.compress(syntax)
        ds.save_as(folder / f"f{file_index:04d}.dcm", enforce_file_format=True)


def transcode_with_gdcm(source: Path, folder: Path, syntax: str) -> None:
    """JPEG-LS has no pydicom encoder without pyjpegls; GDCM (python-gdcm) can write it."""
    import gdcm

    wanted = {"1.2.840.10008.1.2.4.80": gdcm.TransferSyntax.JPEGLSLossless}[syntax]
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        reader = gdcm.ImageReader()
        reader.SetFileName(str(path))
        if not reader.Read():
            raise RuntimeError(f"GDCM cannot read {path}")
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(wanted))
        change.SetInput(reader.GetImage())
        if not change.Change():
            raise RuntimeError("GDCM cannot transcode")
        writer = gdcm.ImageWriter()
        writer.SetFileName(str(folder / path.name))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        if not writer.Write():
            raise RuntimeError("GDCM cannot write")


def plain_pydicom(folder: Path) -> np.ndarray:
    """What a script would do: read every file, sort by position, stack, rescale."""
    import pydicom

    slices = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    slices.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    volume = np.stack([d.pixel_array for d in slices]).astype(np.float32)
    return volume * float(slices[0].RescaleSlope) + float(slices[0].RescaleIntercept)


def simpleitk(folder: Path) -> np.ndarray | None:
    try:
        import SimpleITK as sitk
    except ImportError:
        return None
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(reader.Execute())


def medview_reader(folder: Path) -> np.ndarray:
    from medview.io.readers import read_image

    return read_image(folder).array


def medview_item(paths: list[str]) -> Callable[[], np.ndarray]:
    """load_item's path: the file list is known from the project (no folder walk)."""
    from medview.io.dicom import read_series

    return lambda: read_series(paths).array


def best_of(fn: Callable[[], object], repeat: int) -> float | None:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        if result is None:
            return None
    return round(min(times), 3)


def measure(folder: Path, repeat: int) -> dict[str, float | None]:
    start = time.perf_counter()
    reference = medview_reader(folder)  # also warms the page cache and the process pool
    first = time.perf_counter() - start
    check = simpleitk(folder)
    if check is not None and not np.array_equal(check.astype(np.float32), reference):
        raise SystemExit(f"medview and SimpleITK disagree on {folder}")
    paths = [str(p) for p in sorted(folder.iterdir())]
    return {
        "medview_first_read_image": round(first, 3),  # cold: includes the pool's start-up
        "medview_read_image": best_of(lambda: medview_reader(folder), repeat),
        "medview_load_item": best_of(medview_item(paths), repeat),
        "pydicom_loop": best_of(lambda: plain_pydicom(folder), repeat),
        "simpleitk": best_of(lambda: simpleitk(folder), repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="an existing series folder (default: generate)")
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--compressed", default="rle,jpegls,j2k", help="comma list of rle, jpegls, j2k"
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    results: dict[str, object] = {
        "bench": "load_dicom",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    if args.folder:
        folder = Path(args.folder)
        results["series"] = {"folder": str(folder), "files": len(list(folder.iterdir()))}
        results["uncompressed"] = measure(folder, args.repeat)
    else:
        with tempfile.TemporaryDirectory(prefix="medview-bench-") as temp:
            base = Path(temp)
            results["series"] = {"slices": args.slices, "size": args.size}
            variants = [("uncompressed", None)] + [
                (name, SYNTAXES[name]) for name in args.compressed.split(",") if name
            ]
            for name, syntax in variants:
                folder = base / name
                start = time.perf_counter()
                try:
                    if name == "jpegls":
                        transcode_with_gdcm(base / "uncompressed", folder, syntax)
                    else:
                        write_series(folder, args.slices, args.size, syntax)
                except Exception as exc:  # no encoder for this syntax here
                    results[name] = {"error": f"cannot write: {exc}"[:200]}
                    continue
                results[f"{name}_write_seconds"] = round(time.perf_counter() - start, 1)
                results[name] = measure(folder, args.repeat)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
