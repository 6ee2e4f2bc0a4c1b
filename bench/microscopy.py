"""First slice of a large OME-Zarr: medview's lazy read against bioio's whole-array read.

    python bench/microscopy.py [--gb 4] [--data DIR]

Writes (or reuses under ``--data``) a uint16 OME-Zarr of about ``--gb`` GB (C=2, Z planes of
2048 x 2048, one chunk per plane, two pyramid levels) with bioio-ome-zarr's writer from a
dask array (never whole in memory). Then, each in a fresh process so peak RSS is its own:

* ``medview``: ``scan`` of the store (import's metadata-only read) and ``read_image(...)``
  then ``plane(z)`` of the middle slice: what the window does to show it;
* ``bioio_whole``: bioio's own ``BioImage.get_image_data("ZYXC")`` of the whole array.

Prints one JSON object: seconds and peak RSS (MB) of each. Targets (issue 29): first slice
<= 0.5 s with RSS < 1 GB for a 4 GB store.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SIDE = 2048


def write_store(path: Path, gb: float) -> tuple[int, ...]:
    import dask.array as da
    import numpy as np
    from bioio_ome_zarr.writers import OMEZarrWriter

    planes = max(1, round(gb * 1e9 / (2 * SIDE * SIDE * 2)))  # 2 channels, 2 bytes a pixel
    shape = (2, planes, SIDE, SIDE)
    data = da.random.randint(0, 4000, size=shape, chunks=(1, 1, SIDE, SIDE)).astype(np.uint16)
    writer = OMEZarrWriter(
        str(path),
        level_shapes=[shape, (2, planes, SIDE // 4, SIDE // 4)],
        dtype=np.uint16,
        chunk_shape=[(1, 1, SIDE, SIDE), (1, 1, SIDE // 4, SIDE // 4)],
        axes_names=["c", "z", "y", "x"],
        axes_types=["channel", "space", "space", "space"],
        axes_units=[None, "micrometer", "micrometer", "micrometer"],
        physical_pixel_size=[1.0, 2.0, 0.325, 0.325],
    )
    writer.write_full_volume(data)
    return shape


def measure(mode: str, store: str) -> dict[str, float]:
    start = time.perf_counter()
    if mode == "medview":
        from medview.io.readers import read_image, scan

        (found,) = scan(store).found
        scanned = time.perf_counter() - start
        start = time.perf_counter()
        image = read_image(store)
        plane = image.plane(image.shape[0] // 2)
        result = {"scan_s": scanned, "first_slice_s": time.perf_counter() - start}
        assert plane.shape[:2] == (SIDE, SIDE) and found.shape[1:3] == (SIDE, SIDE)
    else:
        from bioio import BioImage
        from bioio_ome_zarr import Reader

        data = BioImage(store, reader=Reader).get_image_data("ZYXC")
        result = {"whole_array_s": time.perf_counter() - start, "gb": data.nbytes / 1e9}
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=4.0)
    parser.add_argument("--data", help="folder for the generated store (kept and reused)")
    parser.add_argument("--measure", choices=("medview", "bioio_whole"), help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.store)))
        return
    temp = tempfile.TemporaryDirectory(prefix="medview-microscopy-")
    base = Path(args.data) if args.data else Path(temp.name)
    store = base / f"light_sheet_{args.gb:g}gb.zarr"
    start = time.perf_counter()
    if not (store / "zarr.json").exists():
        write_store(store, args.gb)
    report: dict[str, object] = {"store": str(store), "gb": args.gb}
    report["write_s"] = time.perf_counter() - start
    for mode in ("medview", "bioio_whole"):
        out = subprocess.run(
            [sys.executable, __file__, "--measure", mode, "--store", str(store)],
            capture_output=True,
            text=True,
            check=True,
        )
        report[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(report))


if __name__ == "__main__":
    main()
