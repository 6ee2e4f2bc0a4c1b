"""Time from selecting a DICOM series in the real window (offscreen) to its first pixels.

    QT_QPA_PLATFORM=offscreen python bench/first_slice.py [--data DIR] [--slices 300]
                                                          [--size 512] [--repeat 5]

A project holds two small PNGs and a JPEG Lossless (Process 14 SV1) series written by
``bench/dicom_synth.py`` (reused from ``--data`` when there). The window opens on the first
PNG (its read-ahead takes the second, never the series); then, ``--repeat`` times, the series
is selected with nothing of it in medview's caches, and the clock stops when the view has
drawn the slice (the viewport grabbed after the image is set), and again when the whole
volume is decoded. Prints one JSON line; target: first pixels in <= 0.3 s. The OS page cache
is warm (the files were just written or read): that is the usual case of paging through a
study that was opened before, and the cold-disk case adds the one file's read.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder for the generated series (kept and reused)")
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import dicom_synth
    import numpy as np
    from PIL import Image as PILImage
    from PySide6.QtWidgets import QApplication

    from medview.core.project import Project
    from medview.io.readers import scan
    from medview.ui.main_window import MainWindow

    temp = tempfile.TemporaryDirectory(prefix="medview-first-slice-")
    base = Path(args.data) if args.data else Path(temp.name)
    folder = base / f"jpeg_lossless_sv1_{args.slices}x{args.size}"
    marker = base / f".{folder.name}.complete"
    if not marker.exists():
        dicom_synth.write_series(folder, "jpeg_lossless_sv1", args.slices, args.size)
        marker.touch()
    work = Path(temp.name)
    project = Project.create(work / "bench.medview", ["A", "B"])
    for name in ("filler0.png", "filler1.png"):
        png = work / name
        PILImage.fromarray(np.full((32, 32), 128, np.uint8)).save(png)
        project.add_item(
            name=name,
            kind="2d",
            reader="raster",
            paths=[png],
            shape=(1, 32, 32),
            spacing=(1.0, 1.0, 1.0),
            content_hash=f"filler-{name}",
        )
    found = scan(folder).found[0]
    series_id = project.add_item(
        name=found.name,
        kind=found.kind,
        reader=found.reader,
        paths=found.paths,
        shape=found.shape,
        spacing=found.spacing,
        content_hash=found.content_hash,
    )
    filler_id = project.items()[0].id

    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.resize(1400, 900)
    window.set_project(project)
    window.show()
    view = window.slice_view

    def wait_until(condition, timeout: float = 120.0) -> None:  # noqa: ANN001
        deadline = time.perf_counter() + timeout
        while not condition():
            app.processEvents()
            if time.perf_counter() > deadline:
                raise SystemExit("timed out")
            time.sleep(0.001)

    wait_until(lambda: view.image is not None)
    first_pixels, complete = [], []
    for _ in range(args.repeat):
        window.browser.select_item(filler_id)
        wait_until(lambda: window.current_item is not None and window.current_item.id == filler_id)
        wait_until(lambda: view.image is not None and view.image.kind == "2d")
        window.loader.cache.discard(series_id)  # never served from medview's memory
        time.sleep(0.2)
        start = time.perf_counter()
        window.browser.select_item(series_id)
        wait_until(lambda: view.image is not None and view.image.kind == "3d")
        view.graphics.viewport().grab()  # the pixels drawn
        first_pixels.append(time.perf_counter() - start)
        wait_until(lambda: view.progressive is None)
        complete.append(time.perf_counter() - start)
    window.close()
    project.close()
    print(
        json.dumps(
            {
                "bench": "first_slice",
                "series": f"{args.slices}x{args.size} JPEG Lossless SV1",
                "cpus": os.cpu_count(),
                "first_pixels_s": [round(t, 3) for t in first_pixels],
                "first_pixels_median_s": round(statistics.median(first_pixels), 3),
                "whole_series_median_s": round(statistics.median(complete), 3),
                "target_s": 0.3,
            }
        )
    )
    temp.cleanup()


if __name__ == "__main__":
    main()
