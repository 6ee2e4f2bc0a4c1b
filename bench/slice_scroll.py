"""Milliseconds per slice change in the real slice view (offscreen).

Loads a 512×512×300 int16 volume (a synthetic CT-like phantom) into ``SliceView`` and
scrolls it with real wheel events; every step includes the synchronous repaint of the view.
Prints one JSON line: median and 95th percentile per axis. Target: axial median < 5 ms.

    QT_QPA_PLATFORM=offscreen python bench/slice_scroll.py [--steps 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def phantom(shape: tuple[int, int, int] = (300, 512, 512)) -> np.ndarray:
    """Air around an elliptic body with soft tissue, a 'spine' and lungs (Hounsfield units)."""
    z, y, x = shape
    yy, xx = np.mgrid[0:y, 0:x].astype(np.float32)
    cy, cx = y / 2, x / 2
    body = ((yy - cy) / (y * 0.38)) ** 2 + ((xx - cx) / (x * 0.45)) ** 2 <= 1
    lungs = (((yy - cy) / (y * 0.2)) ** 2 + ((np.abs(xx - cx) - x * 0.2) / (x * 0.12)) ** 2) <= 1
    spine = ((yy - cy * 1.45) ** 2 + (xx - cx) ** 2) <= (x * 0.05) ** 2
    plane = np.full((y, x), -1000, np.int16)
    plane[body] = 40
    plane[lungs] = -800
    plane[spine] = 700
    rng = np.random.default_rng(0)
    volume = np.empty(shape, np.int16)
    for k in range(z):
        volume[k] = plane + rng.integers(-20, 20, (y, x), dtype=np.int16)
    return volume


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()

    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    from medview.core.image import Image
    from medview.ui.app import create_app
    from medview.ui.slice_view import SliceView

    app = create_app()
    view = SliceView()
    view.resize(1000, 900)
    view.show()
    app.processEvents()
    t0 = time.perf_counter()
    # Oriented like a RAS NIfTI as the readers return it, so the view also flips rows and
    # columns into radiological display, as it does for real data.
    ras = np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], dtype=float)
    image = Image(phantom(), spacing=(1.5, 0.7, 0.7), direction=ras, metadata={"modality": "CT"})
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    view.set_image(image)
    view.graphics.viewport().repaint()
    first_ms = (time.perf_counter() - t0) * 1000

    viewport = view.graphics.viewport()
    centre = QPointF(viewport.width() / 2, viewport.height() / 2)

    def wheel(delta: int) -> None:
        event = QWheelEvent(
            centre,
            viewport.mapToGlobal(centre),
            QPoint(0, 0),
            QPoint(0, delta),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(viewport, event)

    results: dict[str, dict[str, float]] = {}
    for axis in (0, 1, 2):
        view.set_axis(axis)
        view.set_slice(0)
        app.processEvents()
        times = []
        last = image.shape[axis] - 1
        direction = 120  # one notch forward: the next slice
        for _ in range(args.steps):
            if view.index >= last:
                direction = -120
            elif view.index <= 0:
                direction = 120
            before = view.index
            t0 = time.perf_counter()
            wheel(direction)
            viewport.repaint()  # synchronous paint: the cost the user waits for
            app.processEvents()
            times.append((time.perf_counter() - t0) * 1000)
            assert view.index != before, "the wheel did not change the slice"
        name = ("axial", "coronal", "sagittal")[axis]
        results[name] = {
            "median_ms": round(float(np.median(times)), 3),
            "p95_ms": round(float(np.percentile(times, 95)), 3),
        }
    print(
        json.dumps(
            {
                "bench": "slice_scroll",
                "volume": [300, 512, 512],
                "dtype": "int16",
                "steps_per_axis": args.steps,
                "median_ms": results["axial"]["median_ms"],
                "p95_ms": results["axial"]["p95_ms"],
                "per_axis": results,
                "first_show_ms": round(first_ms, 1),
                "phantom_build_s": round(build_s, 2),
                "target_median_ms": 5.0,
            }
        )
    )
    view.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
