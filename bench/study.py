"""A model study on the shared PneumoniaMNIST subset: four 2D models on the same folds, one
JSON line with the wall time and per-model figures (CV AUC mean ± s.d., test AUC, parameters,
MACs, seconds per epoch, total seconds) and the paired statistics' sentences.

    OMP_NUM_THREADS=2 .venv/bin/python bench/study.py [--n 800] [--size 32] [--folds 3]
        [--epochs 3] [--models cnn_small,mobilenet_v2,resnet18,densenet121] [--device auto]

``--n`` takes a class-balanced subset of the train+val images (the test split is kept whole
up to n/4), so the bench fits a laptop's CPU; leave it out for the whole archive. The project
is written to a temporary folder (or ``--keep DIR``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist_balanced.npz"


def subset(src: Path, dst: Path, n: int | None, seed: int = 0) -> dict[str, int]:
    data = np.load(src)
    rng = np.random.default_rng(seed)
    out, counts = {}, {}
    for split in ("train", "val", "test"):
        x, y = data[f"{split}_images"], data[f"{split}_labels"]
        keep = np.arange(len(x))
        if n is not None:
            want = (
                n // 4
                if split == "test"
                else (n * len(x)) // (len(data["train_images"]) + len(data["val_images"]))
            )
            per_class = [
                rng.permutation(np.flatnonzero(y.ravel() == c))[: want // 2] for c in (0, 1)
            ]
            keep = np.sort(np.concatenate(per_class))
        out[f"{split}_images"], out[f"{split}_labels"] = x[keep], y[keep]
        counts[split] = int(len(keep))
    np.savez(dst, **out)
    return counts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=None, help="train+val images (balanced subset)")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--models", default="cnn_small,mobilenet_v2,resnet18,densenet121")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--keep", help="write the project here instead of a temporary folder")
    args = ap.parse_args()
    if not DATA.exists():
        print(json.dumps({"skipped": f"{DATA} not found"}))
        return 0

    from medview.core.project import Project
    from medview.io.importer import import_sources
    from training.config import TrainConfig
    from training.study import parse_models, run_study

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="medview-study-"))
    root.mkdir(parents=True, exist_ok=True)
    npz = root / "pneumoniamnist.npz"
    counts = subset(DATA, npz, args.n)
    t0 = time.perf_counter()
    with Project.create(root / "bench", ["normal", "pneumonia"]) as project:
        import_sources(project, [npz])
        folder = project.folder
        labelled = len(project.items(labelled=True))
    import_seconds = time.perf_counter() - t0
    cfg = TrainConfig(
        project=str(folder),
        folds=args.folds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        size=args.size,
        device=args.device,
        threads=args.threads,
        predict_unlabelled=False,
    )
    t1 = time.perf_counter()
    outcome = run_study(cfg, parse_models(args.models), study_id="bench")
    wall = time.perf_counter() - t1
    report = outcome.report
    models = {
        r["model"]: {
            k: (round(v, 4) if isinstance(v, float) else v)
            for k, v in r.items()
            if k
            in (
                "status",
                "cv_auc_mean",
                "cv_auc_std",
                "cv_accuracy_mean",
                "cv_f1_mean",
                "test_auc",
                "test_accuracy",
                "parameters",
                "macs",
                "seconds_per_epoch",
                "total_seconds",
            )
        }
        for r in report["rows"]
    }
    print(
        json.dumps(
            {
                "bench": "study",
                "data": str(DATA),
                "items": counts,
                "labelled": labelled,
                "size": args.size,
                "folds": args.folds,
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "import_seconds": round(import_seconds, 2),
                "wall_seconds": round(wall, 2),
                "status": outcome.status,
                "best": report.get("best"),
                "models": models,
                "paired": [p["sentence"] for p in report.get("paired", [])],
                "folder": str(outcome.folder),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
