"""How a run's settings travel through the engine: a ``sys.setprofile`` trace of one small run.

Issue 24 asks, before and after the engine's reorganisation, how many modules a run's config
passes through and how often the path returns to a module it left. The trace records, for
every call into the engine (``training.*``) whose frame holds the run's settings (a local named
``cfg`` or ``ctx``), the module it runs in; consecutive calls in one module count once. A
"return" is entering a module that the path had already left.

It also writes the run's predictions.csv and history.csv (the ``seconds`` column dropped), so
two checkouts can be compared for identical results:

    python bench/config_trace.py [--out DIR]     # one JSON line
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the checkout's engine and its project builder

SETTINGS = dict(model="cnn_small", batch_size=16, epochs=3, folds=2, seed=1, size=32)


def _run_training():
    if (ROOT / "training" / "engine").is_dir():
        from training.engine.api import run_training
        from training.recipe.config import TrainConfig
    else:  # a checkout from before the engine's packages
        from training.api import run_training  # type: ignore[no-redef]
        from training.config import TrainConfig  # type: ignore[no-redef]
    return run_training, TrainConfig


def trace(call) -> list[str]:
    path: list[str] = []

    def profile(frame, event, _arg):
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("training") or not ({"cfg", "ctx"} & set(frame.f_locals)):
            return
        if not path or path[-1] != module:
            path.append(module)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return path


def figures(path: list[str]) -> dict[str, int]:
    returns, left = 0, set()
    for before, now in zip(path, path[1:], strict=False):
        left.add(before)
        returns += now in left
    return {"modules": len(set(path)), "steps": len(path), "returns": returns}


def _copy_without_seconds(src: Path, dst: Path) -> None:
    with src.open(newline="") as f:
        rows = [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]
    with dst.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where to copy predictions.csv and history.csv")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from projects import make_project

    run_training, TrainConfig = _run_training()
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp), 16, kind="2d", size=32)
        cfg = TrainConfig(project=str(project.folder), device="cpu", run_id="trace", **SETTINGS)
        path = trace(lambda: run_training(cfg))
        run = Path(project.folder) / "runs" / "trace"
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            _copy_without_seconds(run / "history.csv", args.out / "history.csv")
            _copy_without_seconds(run / "predictions.csv", args.out / "predictions.csv")
    print(json.dumps({"settings": SETTINGS, **figures(path), "path": path}))


if __name__ == "__main__":
    main()
