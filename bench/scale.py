"""Scale: a 5,000-item project in the browser and a 512x512x600 volume in the slice view,
with the memory each takes (issue 7).

Part 1 builds a project of N items (tiny PNGs on disk, half labelled, a run's predictions for
all) and times, in the real main window offscreen: opening it (model load, first paint),
sorting by each column, the text filter, the quick filters, jumping to the last item,
labelling one item, the visible thumbnails; and ``medview items --json`` as a user runs it.

Part 2 writes a Z x 512 x 512 int16 NIfTI (CT-like phantom), then measures reading it
(read_image), showing it in the slice view (set_image + first paint), one slice step per axis
(median / p95 over real repaints), the window's full load path (show_item until imageShown),
and the image cache holding several such volumes under its byte budget.

Memory: the peak resident set size (VmHWM, reset before each phase through
/proc/self/clear_refs where Linux allows it) and the RSS added by each phase.

Prints one JSON line.

    QT_QPA_PLATFORM=offscreen python bench/scale.py [--items 5000] [--slices 600]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

MiB = 1024 * 1024


# ---------------------------------------------------------------------------- memory
def _status(field: str) -> int:
    """A field of /proc/self/status in bytes (0 where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss() -> int:
    return _status("VmRSS")


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak() -> int:
    return _status("VmHWM")


def phase(name: str, out: dict[str, Any], fn: Callable[[], Any]) -> Any:
    """Run fn, record its wall time, the RSS it added and the peak above the start."""
    reset_peak()
    before = rss()
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    out[name] = {
        "ms": round(seconds * 1000, 1),
        "rss_added_mib": round((rss() - before) / MiB, 1),
        "peak_above_start_mib": round((peak() - before) / MiB, 1),
    }
    return result


def ms(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return round((time.perf_counter() - t0) * 1000, 1)


# ---------------------------------------------------------------------------- part 1
def make_project(folder: Path, n: int) -> Path:
    from PIL import Image as PILImage

    from medview.core.project import Project

    data = folder / "images"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    entries = []
    for k in range(n):
        path = data / f"img{k:05d}.png"
        PILImage.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(path)
        entries.append(
            {
                "name": f"sample_{k:05d}",
                "kind": "2d",
                "reader": "raster",
                "paths": [path],
                "shape": (1, 32, 32),
                "spacing": (1.0, 1.0, 1.0),
                "content_hash": f"{k:064x}",
                "size_bytes": path.stat().st_size,
                "group": f"g{k % 250:03d}",
                "split": ("train", "val", "test", None)[k % 4],
                "label": ("WT", "MUT", None, None)[k % 4],
            }
        )
    with Project.create(folder / "big", ["WT", "MUT"]) as project:
        project.add_items(entries)
        project.create_run("bench-run", {"model": "cnn_small"}, model="cnn_small")
        project.add_predictions(
            "bench-run",
            [
                (k + 1, 0, None, [p, 1 - p], "WT" if p > 0.5 else "MUT")
                for k, p in enumerate(rng.random(n))
            ],
        )
        project.finish_run("bench-run", "finished")
        return project.folder


def browser_figures(app: Any, folder: Path) -> dict[str, Any]:
    from PySide6.QtCore import Qt

    from medview.core.project import Project
    from medview.ui.browser_model import COL_GROUP, COL_LABEL, COL_NAME, COL_PRED, COL_PROB
    from medview.ui.main_window import MainWindow
    from medview.ui.settings import Settings

    out: dict[str, Any] = {}
    window = MainWindow(Settings())
    window.resize(1400, 900)
    window.show()
    app.processEvents()

    def open_it() -> None:
        window.set_project(Project.open(folder))
        app.processEvents()
        window.browser.table.viewport().repaint()

    phase("open_project", out, open_it)
    browser = window.browser
    proxy, table = browser.proxy, browser.table
    assert proxy.rowCount() == window.project.item_count()
    sorts = {}
    for name, column in (
        ("name", COL_NAME),
        ("label", COL_LABEL),
        ("group", COL_GROUP),
        ("prediction", COL_PRED),
        ("probability", COL_PROB),
    ):
        for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
            key = f"{name}_{'asc' if order == Qt.SortOrder.AscendingOrder else 'desc'}"
            sorts[key] = ms(
                lambda c=column, o=order: (table.sortByColumn(c, o), table.viewport().repaint())
            )
    out["sort_ms"] = sorts
    out["sort_ms_max"] = max(sorts.values())
    filters = {
        "text_narrow": ms(lambda: browser.filter_edit.setText("sample_0499")),
        "text_clear": ms(lambda: browser.filter_edit.setText("")),
        "text_wide": ms(lambda: browser.filter_edit.setText("g01")),
    }
    browser.filter_edit.setText("")
    for mode, cls in (("unlabelled", None), ("class", "MUT"), ("disagree", None), ("all", None)):
        filters[f"quick_{mode}"] = ms(lambda m=mode, c=cls: browser.set_quick_filter(m, c))
    out["filter_ms"] = filters
    out["filter_ms_max"] = max(filters.values())
    last = window.project.items()[-1].id
    out["jump_to_last_ms"] = ms(lambda: (browser.select_item(last), app.processEvents()))
    window.label_bar.advance_box.setChecked(False)
    out["label_one_ms"] = ms(lambda: (window.label_selected("MUT"), app.processEvents()))
    t0 = time.perf_counter()
    table.viewport().repaint()
    browser.model.wait_for_thumbnails(10000)
    app.processEvents()
    table.viewport().repaint()
    out["visible_thumbnails_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    out["window_rss_mib"] = round(rss() / MiB, 1)
    window.close_project()
    window.close()
    app.processEvents()
    return out


# ---------------------------------------------------------------------------- part 2
def write_volume(path: Path, slices: int) -> None:
    import nibabel as nib
    from slice_scroll import phantom

    volume = phantom((slices, 512, 512))  # (z, y, x)
    nib.save(nib.Nifti1Image(np.transpose(volume, (2, 1, 0)), np.diag([0.7, 0.7, 1.0, 1])), path)


def volume_figures(app: Any, path: Path, steps: int) -> dict[str, Any]:
    from PySide6.QtCore import QEventLoop, QTimer

    from medview.core.project import Project
    from medview.io.readers import read_image
    from medview.ui.image_cache import ImageCache
    from medview.ui.main_window import MainWindow
    from medview.ui.settings import Settings
    from medview.ui.slice_view import SliceView

    out: dict[str, Any] = {}
    image = phase("read_image", out, lambda: read_image(path))
    out["decoded_mib"] = round(image.array.nbytes / MiB, 1)
    out["dtype"] = str(image.array.dtype)
    view = SliceView()
    view.resize(1000, 900)
    view.show()
    app.processEvents()

    def show() -> None:
        view.set_image(image)
        view.graphics.viewport().repaint()

    phase("slice_view_first_show", out, show)
    per_axis = {}
    for axis in (0, 1, 2):
        view.set_axis(axis)
        app.processEvents()
        count = image.shape[axis]
        times = []
        for k in range(steps):
            index = (k * 7) % count  # jumps as well as neighbours: no cache of the last slice
            t0 = time.perf_counter()
            view.set_slice(index)
            view.graphics.viewport().repaint()
            app.processEvents()
            times.append((time.perf_counter() - t0) * 1000)
        per_axis[("axial", "coronal", "sagittal")[axis]] = {
            "median_ms": round(float(np.median(times)), 2),
            "p95_ms": round(float(np.percentile(times, 95)), 2),
        }
    out["slice_step"] = per_axis
    view.close()

    # The window's own path: a project holding the volume twice (set_project shows the
    # first; the second is timed from show_item to imageShown, loaded on a worker thread).
    with tempfile.TemporaryDirectory() as temp:
        project = Project.create(Path(temp) / "vol", ["WT", "MUT"])
        ids = [
            project.add_item(
                name=f"volume{k}",
                kind="3d",
                reader="nifti",
                paths=[path],
                shape=image.shape,
                spacing=image.spacing,
                content_hash=f"{k}" * 64,
            )
            for k in range(2)
        ]
        window = MainWindow(Settings())
        window.show()
        shown: list[int] = []
        loop = QEventLoop()
        window.imageShown.connect(lambda i: (shown.append(i), loop.quit()))

        def wait_for(item_id: int) -> None:
            deadline = time.monotonic() + 120
            while item_id not in shown and time.monotonic() < deadline:
                QTimer.singleShot(100, loop.quit)
                loop.exec()

        window.set_project(project)
        wait_for(ids[0])
        window.loader.cache.clear()

        def load_in_window() -> None:
            window.browser.select_item(ids[1])
            wait_for(ids[1])

        phase("window_show_item", out, load_in_window)
        out["window_show_item"]["shown"] = ids[1] in shown
        out["window_image_cache_mib"] = round(window.loader.cache.total_bytes() / MiB, 1)
        window.close_project()
        window.close()
        app.processEvents()

    cache = ImageCache()
    for k in range(4):
        cache.put(k, image if k == 0 else type(image)(image.array.copy(), image.spacing))
    out["image_cache"] = {
        "budget_mib": round(cache.max_bytes / MiB, 1),
        "volumes_put": 4,
        "kept": len(cache._images),
        "held_mib": round(cache.total_bytes() / MiB, 1),
    }
    cache.clear()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--steps", type=int, default=60, help="slice steps timed per axis")
    args = parser.parse_args()

    from medview.ui.app import create_app

    app = create_app()
    result: dict[str, Any] = {"bench": "scale", "items": args.items}
    result["peak_reset_supported"] = reset_peak()
    with tempfile.TemporaryDirectory(prefix="medview-scale-") as temp:
        tmp = Path(temp)
        t0 = time.perf_counter()
        folder = make_project(tmp, args.items)
        result["build_project_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "medview", "items", str(folder), "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        result["cli_items_json_s"] = round(time.perf_counter() - t0, 2)
        assert len(json.loads(done.stdout)) == args.items
        result["browser"] = browser_figures(app, folder)

        # .nii is memory-mapped by nibabel (pages come from the file as slices are shown);
        # .nii.gz is decoded into memory: both are common, and their memory differs.
        for name in ("volume.nii", "volume.nii.gz"):
            volume = tmp / name
            t0 = time.perf_counter()
            write_volume(volume, args.slices)
            figures: dict[str, Any] = {
                "shape": [args.slices, 512, 512],
                "file_mib": round(volume.stat().st_size / MiB, 1),
                "write_s": round(time.perf_counter() - t0, 1),
            }
            figures.update(volume_figures(app, volume, args.steps))
            result[name] = figures
            volume.unlink()
    result["process_peak_rss_mib"] = round(peak() / MiB, 1)  # since the last reset
    import resource

    result["process_max_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )  # whole life (Linux: KiB)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
