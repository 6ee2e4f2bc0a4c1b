"""Seconds from process start to the shown main window (with a project open).

Starts a fresh Python process (interpreter start-up included, as a user would wait for it),
which opens a small project, shows the window, lets it paint once and reports. Also checks
that torch was not imported on the way. Prints one JSON line. Target: under 2 s.

    python bench/startup.py [--runs 3] [--welcome]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
from medview.ui.app import create_app, create_window
app = create_app()
window = create_window({project!r})
window.show()
for _ in range(3):  # expose + first paint
    app.processEvents()
shown = time.time()
heavy = sorted(m for m in ("torch", "torchvision", "monai", "sklearn") if m in sys.modules)
first_image = [None]
window.imageShown.connect(lambda _id: first_image.__setitem__(0, time.time()))
deadline = time.time() + 10
while first_image[0] is None and time.time() < deadline and {project!r} is not None:
    app.processEvents()
    time.sleep(0.001)
print("SHOWN", repr(shown), repr(first_image[0] or 0.0), ",".join(heavy) or "-", flush=True)
window.close()
"""


def make_project(folder: Path) -> Path:
    """A project with 50 small NIfTI volumes, as the readers would have imported them."""
    import hashlib

    import numpy as np

    sys.path.insert(0, str(ROOT))
    from medview.core.project import Project

    project = Project.create(folder / "startup.medview", ["WT", "MUT"])
    rng = np.random.default_rng(0)
    data = folder / "data"
    data.mkdir()
    for index in range(50):
        path = data / f"item{index:03d}.npy"
        np.save(path, rng.integers(0, 255, (8, 32, 32), dtype=np.uint8))
        project.add_item(
            name=path.name,
            kind="3d",
            reader="npy",
            paths=[path],
            shape=(8, 32, 32),
            spacing=(2.0, 1.0, 1.0),
            content_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
            label=("WT", "MUT", None)[index % 3],
        )
    folder_path = project.folder
    project.close()
    return folder_path


def run_once(project: str | None) -> tuple[float, float | None, str]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    code = CHILD.format(root=str(ROOT), project=project)
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("SHOWN")), None)
    if line is None:
        raise SystemExit(f"the window did not show:\n{out.stderr[-2000:]}")
    _, shown, first_image, heavy = line.split(" ")
    image_s = float(first_image) - start if float(first_image) else None
    return float(shown) - start, image_s, heavy.strip("-")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--welcome", action="store_true", help="no project: the welcome screen")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = None if args.welcome else str(make_project(Path(tmp)))
        # Point QSettings at the temporary folder so the bench leaves no recent-project entry.
        os.environ["XDG_CONFIG_HOME"] = tmp
        run_once(project)  # warm the OS file cache, as any second start would be
        results = [run_once(project) for _ in range(args.runs)]
    seconds = [r[0] for r in results]
    images = [r[1] for r in results if r[1] is not None]
    heavy = sorted({m for r in results for m in r[2].split(",") if m})
    print(
        json.dumps(
            {
                "bench": "startup",
                "seconds": round(min(seconds), 3),
                "median_seconds": round(sorted(seconds)[len(seconds) // 2], 3),
                "runs": [round(s, 3) for s in seconds],
                "first_image_seconds": round(min(images), 3) if images else None,
                "with_project": project is not None,
                "heavy_modules_imported": heavy,
                "torch_imported": "torch" in heavy,
                "target_seconds": 2.0,
            }
        )
    )
    assert "torch" not in heavy, "torch was imported while opening the window"
    return 0


if __name__ == "__main__":
    sys.exit(main())
