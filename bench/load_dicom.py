"""Load time of DICOM series per transfer syntax and size: medview vs pydicom vs SimpleITK.

    python bench/load_dicom.py [--data DIR] [--syntaxes a,b] [--sizes 300x512,60x2048]
                               [--threads 1,2] [--repeat 2] [--readers medview,simpleitk:1,...]
                               [--gpu]

Writes synthetic CT-like series (``bench/dicom_synth.py``: explicit little endian, RLE, JPEG
baseline, JPEG Lossless Process 14 SV1, JPEG-LS lossless, JPEG 2000 lossless and lossy) into
``--data`` (kept and reused when given, else a temporary folder), then measures each reader in
a fresh process per (series, reader, threads), so peak memory and imports do not carry over:

* ``medview`` – the default install's decoder choice (``read_series``, as ``load_item`` calls it);
* ``medview_imagecodecs`` / ``medview_gdcm`` / ``medview_pylibjpeg`` – one decoder forced
  (``MEDVIEW_DICOM_DECODER``); ``medview_pylibjpeg`` also hides imagecodecs and GDCM, which is
  what the default install was before imagecodecs and python-gdcm became dependencies;
* ``pydicom_loop`` – what a script does: dcmread each file, sort, stack, rescale;
* ``simpleitk`` – ``ImageSeriesReader`` (GDCM inside), its thread count set;
* with ``--gpu``: ``medview_gpu`` – nvImageCodec forced on for the syntaxes it takes
  (``MEDVIEW_GPU_DECODE=1``, :mod:`medview.io.gpu_decode`), and ``medview_cpu`` – the GPU
  turned off; the ``medview`` rows then show what the default's probe chose. The first line
  says ``"gpu_decode": "unavailable: <reason>"`` where nvImageCodec or a CUDA device is
  missing (the GPU rows are left out then), and each medview row carries the probe's
  measurements per syntax.

Per run it prints one JSON object: ``seconds`` (best of ``--repeat`` after a first load),
``first_load`` (the first load in the process, with lazy imports), ``first_slice`` (medview:
the middle slice decoded and rescaled from nothing, as the window shows it; the others give no
slice before the whole volume, so it is their full time), ``peak_rss_mb`` (process peak minus
the RSS before loading) and ``volume_mb``. A final line holds all results and, per series,
medview's time over SimpleITK's in the same run. Numbers are noisy on a shared machine: compare
ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

READERS = (
    "medview",
    "medview_imagecodecs",
    "medview_gdcm",
    "medview_pylibjpeg",
    "pydicom_loop",
    "simpleitk",
)
GPU_READERS = ("medview_gpu", "medview_cpu")


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ one measurement (child)
def worker(
    reader: str, folder: Path, threads: int, repeat: int, gpu: bool = False
) -> dict[str, object]:
    import numpy as np

    paths = [str(p) for p in sorted(folder.iterdir())]
    os.environ["MEDVIEW_DECODE_THREADS"] = str(threads)
    if reader in GPU_READERS:
        os.environ["MEDVIEW_GPU_DECODE"] = "1" if reader == "medview_gpu" else "0"
    elif reader.startswith("medview_"):
        backend = reader.removeprefix("medview_")
        os.environ["MEDVIEW_DICOM_DECODER"] = backend
        if backend == "pylibjpeg":
            sys.modules["imagecodecs"] = None  # type: ignore[assignment]
            sys.modules["gdcm"] = None  # type: ignore[assignment]
    no_early_slice = False
    if reader.startswith("medview"):
        from medview.io import dicom, dicom_volume

        def load() -> np.ndarray:
            return dicom.read_series(paths).array

        def slice_only() -> None:
            # The window's first step: the middle file, decoded and rescaled into a volume.
            decoder = dicom_volume.SeriesDecoder(paths)
            decoder.first_slice(len(paths) // 2)
            assert decoder.state[len(paths) // 2] == 1

    elif reader == "pydicom_loop":
        import pydicom

        def load() -> np.ndarray:
            slices = [pydicom.dcmread(p) for p in paths]
            slices.sort(key=lambda d: float(d.ImagePositionPatient[2]))
            volume = np.stack([d.pixel_array for d in slices]).astype(np.float32)
            slope = float(getattr(slices[0], "RescaleSlope", 1))
            return volume * slope + float(getattr(slices[0], "RescaleIntercept", 0))

        def slice_only() -> None:  # no slice before the volume: only used to warm imports
            _ = pydicom.dcmread(paths[0]).pixel_array

        no_early_slice = True
    elif reader == "simpleitk":
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)

        def load() -> np.ndarray:
            series = sitk.ImageSeriesReader()
            series.SetFileNames(series.GetGDCMSeriesFileNames(str(folder)))
            return sitk.GetArrayFromImage(series.Execute())

        def slice_only() -> None:
            sitk.GetArrayFromImage(sitk.ReadImage(paths[0]))

        no_early_slice = True
    else:
        raise SystemExit(f"unknown reader {reader}")
    slice_only()  # imports and codec set-up, so the peak below is the load's own
    before = rss_mb()
    start = time.perf_counter()
    volume = load()
    first_load = time.perf_counter() - start
    peak = peak_mb() - before
    volume_mb = volume.nbytes / 2**20
    shape = list(volume.shape)
    del volume
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        load()
        times.append(time.perf_counter() - start)
    best = min(times) if times else first_load
    if not no_early_slice:
        slice_times = []
        for _ in range(3):
            start = time.perf_counter()
            slice_only()
            slice_times.append(time.perf_counter() - start)
        first_slice = min(slice_times)
    else:
        first_slice = best
    row: dict[str, object] = {
        "seconds": round(best, 3),
        "first_load": round(first_load, 3),
        "first_slice": round(first_slice, 4),
        "peak_rss_mb": round(peak, 1),
        "volume_mb": round(volume_mb, 1),
        "shape": shape,
    }
    if gpu and reader.startswith("medview"):
        from medview.io import gpu_decode

        row["gpu_decode"] = gpu_decode.status()
    return row


def gpu_status() -> str | dict[str, object]:
    """``"unavailable: <reason>"``, or "available" (the probes run in the workers)."""
    from medview.io import gpu_decode

    os.environ.pop("MEDVIEW_GPU_DECODE", None)
    reason = gpu_decode.unavailable_reason()
    return f"unavailable: {reason}" if reason else "available"


def duel(folder: Path, rounds: int) -> dict[str, object]:
    """medview (each decoder) and SimpleITK interleaved in one process, ``rounds`` times:
    on a loaded machine the best of each is the fairest ratio."""
    import SimpleITK as sitk

    from medview.io import dicom

    paths = [str(p) for p in sorted(folder.iterdir())]
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)
    os.environ["MEDVIEW_DECODE_THREADS"] = "2"

    def simpleitk() -> None:
        series = sitk.ImageSeriesReader()
        series.SetFileNames(series.GetGDCMSeriesFileNames(str(folder)))
        sitk.GetArrayFromImage(series.Execute())

    def medview(backend: str | None):  # noqa: ANN202
        def load() -> None:
            if backend:
                os.environ["MEDVIEW_DICOM_DECODER"] = backend
            else:
                os.environ.pop("MEDVIEW_DICOM_DECODER", None)
            dicom.read_series(paths)

        return load

    contenders = {
        "medview": medview(None),
        "medview_gdcm": medview("gdcm"),
        "medview_pylibjpeg": medview("pylibjpeg"),
        "simpleitk": simpleitk,
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for load in contenders.values():
        load()  # warm: imports, codec set-up
    for _ in range(rounds):
        for name, load in contenders.items():
            start = time.perf_counter()
            load()
            times[name].append(time.perf_counter() - start)
    best = {name: round(min(t), 3) for name, t in times.items()}
    return {
        "best_s": best,
        "medview_over_simpleitk": round(best["medview"] / best["simpleitk"], 2),
        "rounds": rounds,
    }


# ------------------------------------------------------------------ the driver
def ensure_series(base: Path, syntax: str, count: int, size: int) -> Path:
    import dicom_synth

    folder = base / f"{syntax}_{count}x{size}"
    done = base / f".{folder.name}.complete"  # outside the folder: readers list it
    if not done.exists():
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        dicom_synth.write_series(folder, syntax, count, size)
        done.touch()
    return folder


def available(reader: str) -> bool:
    module = {
        "simpleitk": "SimpleITK",
        "medview_gdcm": "gdcm",
        "medview_imagecodecs": "imagecodecs",
    }
    if reader not in module:
        return True
    try:
        __import__(module[reader])
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder for the generated series (kept and reused)")
    parser.add_argument("--syntaxes", default=",".join(__import__("dicom_synth").SYNTAXES))
    parser.add_argument("--sizes", default="300x512,60x2048")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--worker", nargs=3, metavar=("READER", "FOLDER", "THREADS"))
    parser.add_argument(
        "--duel",
        type=int,
        metavar="ROUNDS",
        help="instead: medview (each decoder, 2 threads) and SimpleITK interleaved per series",
    )
    parser.add_argument("--duel-folder", help=argparse.SUPPRESS)
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="also medview with nvImageCodec on / off, where a CUDA device and the package are",
    )
    args = parser.parse_args()
    if args.duel_folder:
        print(json.dumps(duel(Path(args.duel_folder), args.duel)))
        return
    if args.worker:
        reader, folder, threads = args.worker
        print(json.dumps(worker(reader, Path(folder), int(threads), args.repeat, args.gpu)))
        return

    temp = None
    if args.data:
        base = Path(args.data)
    else:
        temp = tempfile.TemporaryDirectory(prefix="medview-bench-")
        base = Path(temp.name)
    readers = [r for r in args.readers.split(",") if r and available(r.partition(":")[0])]
    thread_counts = [int(t) for t in args.threads.split(",")]
    results: list[dict[str, object]] = []
    header: dict[str, object] = {
        "bench": "load_dicom",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    if args.gpu:
        header["gpu_decode"] = gpu_status()
        if header["gpu_decode"] == "available":
            readers += [r for r in GPU_READERS if r not in readers]
    print(json.dumps(header), flush=True)
    for size_text in args.sizes.split(","):
        count, size = (int(v) for v in size_text.split("x"))
        for syntax in args.syntaxes.split(","):
            folder = ensure_series(base, syntax, count, size)
            if args.duel:
                command = [sys.executable, __file__, "--duel", str(args.duel)]
                command += ["--duel-folder", str(folder)]
                run = subprocess.run(command, capture_output=True, text=True, check=False)
                row = {"syntax": syntax, "series": size_text, "duel": True}
                if run.returncode == 0:
                    row.update(json.loads(run.stdout.strip().splitlines()[-1]))
                else:
                    row["error"] = run.stderr.strip().splitlines()[-1:] or ["failed"]
                results.append(row)
                print(json.dumps(row), flush=True)
                continue
            for entry in readers:
                reader, _, only = entry.partition(":")  # "medview:2": that thread count only
                for threads in [int(only)] if only else thread_counts:
                    if reader == "pydicom_loop" and threads > 1:
                        continue  # a plain loop is one thread
                    command = [sys.executable, __file__, "--repeat", str(args.repeat)]
                    command += ["--worker", reader, str(folder), str(threads)]
                    command += ["--gpu"] if args.gpu else []
                    run = subprocess.run(command, capture_output=True, text=True, check=False)
                    row: dict[str, object] = {
                        "syntax": syntax,
                        "series": size_text,
                        "reader": reader,
                        "threads": threads,
                    }
                    if run.returncode == 0:
                        row.update(json.loads(run.stdout.strip().splitlines()[-1]))
                    else:
                        row["error"] = run.stderr.strip().splitlines()[-1:] or ["failed"]
                    results.append(row)
                    print(json.dumps(row), flush=True)
    ratios = {}
    for row in results:
        if row["reader"] != "medview" or "seconds" not in row:
            continue
        sitk = [
            r["seconds"]
            for r in results
            if r["reader"] == "simpleitk"
            and r["syntax"] == row["syntax"]
            and r["series"] == row["series"]
            and "seconds" in r
        ]
        if sitk:
            key = f"{row['syntax']}@{row['series']}/{row['threads']}t"
            ratios[key] = round(float(row["seconds"]) / min(sitk), 2)  # type: ignore[arg-type]
    print(json.dumps({**header, "results": results, "medview_over_simpleitk": ratios}))
    if temp is not None:
        temp.cleanup()


if __name__ == "__main__":
    main()
