"""The seed protocol on one GPU (issue 17): 125 volumes of 128^3 written as NIfTI, MedicalNet
ResNet-10 fine-tuned from a MedicalNet-format checkpoint, 5-fold x 30 epochs, end to end
through the engine (``training.api.run_training``: decoding, the tensor cache, Auto's CUDA
batch-size probe, the folds, the report). Our users' notebook needed 23 hours for it; the goal
is under 2 minutes on one data-centre GPU, decoding included.

Prints one JSON line: total wall time, split into decode/cache (the run's loading step) and
training (the folds), the setup (writing the NIfTI files and the checkpoint, not part of the
protocol), training samples/s, peak GPU memory (``torch.cuda.max_memory_allocated``) and the
per-epoch GPU columns of history.csv, the batch size Auto chose, the fold AUCs.

The checkpoint has random weights in MedicalNet's published layout ({'state_dict':
{'module.<key>': ...}} with its segmentation head): no network here, and the timing does not
depend on the values.

    python bench/gpu_cv.py              # the protocol (CUDA; runs on the CPU too, for days)
    python bench/gpu_cv.py --quick      # 12 volumes of 32^3, 2 folds x 2 epochs, on the CPU
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

FULL = {"items": 125, "size": 128, "folds": 5, "epochs": 30}
QUICK = {"items": 12, "size": 32, "folds": 2, "epochs": 2}


def write_volumes(folder: Path, n: int, size: int) -> Path:
    """N int16 CT-like volumes as .nii.gz (a denser sphere marks the positive class),
    registered in a new project."""
    import hashlib

    import nibabel as nib

    from medview.core.project import Project

    data = folder / "volumes"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    grid = np.indices((size,) * 3).astype(np.float32)
    entries = []
    for k in range(n):
        vol = rng.normal(0, 60, (size,) * 3).astype(np.float32)
        if k % 2:
            c = rng.uniform(size * 0.3, size * 0.7, 3)
            vol[((grid - c[:, None, None, None]) ** 2).sum(0) < (size / 6) ** 2] += 150
        path = data / f"case{k:03d}.nii.gz"
        nib.save(nib.Nifti1Image(vol.astype(np.int16), np.eye(4)), path)
        entries.append(
            {
                "name": path.name, "kind": "3d", "reader": "nifti", "paths": [path],
                "shape": (size,) * 3, "spacing": (1.0, 1.0, 1.0),
                "content_hash": hashlib.sha1(path.read_bytes()).hexdigest(),
                "size_bytes": path.stat().st_size, "label": "MUT" if k % 2 else "WT",
            }
        )  # fmt: skip
    with Project.create(folder / "gpu_cv.medview", ["WT", "MUT"]) as project:
        project.add_items(entries)
        return project.folder


def write_checkpoint(path: Path) -> Path:
    """Random ResNet-10 weights in MedicalNet's published checkpoint layout."""
    import torch

    from training.models import build_model

    source = build_model("medicalnet_resnet10", 2)
    state = {f"module.{k}": v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    state["module.conv_seg.0.weight"] = torch.randn(32, 512, 3, 3, 3)
    torch.save({"state_dict": state, "epoch": 200}, path)
    return path


def run(project: Path, checkpoint: Path, spec: dict[str, int], quick: bool) -> dict[str, Any]:
    import torch

    from medview.core import messages as msg
    from training.api import run_training
    from training.config import TrainConfig

    cfg = TrainConfig(
        project=str(project), model="medicalnet_resnet10", folds=spec["folds"],
        epochs=spec["epochs"], size=spec["size"], pretrained=str(checkpoint), lr=1e-3,
        augment="light", predict_unlabelled=False, seed=0,
        batch_size=4 if quick else None,  # None: Auto's probe (on CUDA: the largest that fits)
    )  # fmt: skip
    logs: list[str] = []
    started = time.perf_counter()
    outcome = run_training(cfg, lambda m: logs.append(m.text) if isinstance(m, msg.Log) else None)
    total = time.perf_counter() - started
    if outcome.status != "finished":
        return {"status": outcome.status, "error": outcome.error}
    loaded = next((line for line in logs if line.startswith("loaded ")), "")
    found = re.search(r" in ([0-9.]+) s", loaded)
    timing = outcome.metrics["timing"]
    cuda = torch.cuda.is_available()
    return {
        "status": "finished",
        "device": outcome.metrics["device"],
        "gpu": torch.cuda.get_device_name() if cuda else None,
        "total_seconds": round(total, 2),
        "decode_cache_seconds": float(found.group(1)) if found else None,
        "train_seconds": timing["train_seconds"],
        "train_samples_per_second": timing["train_samples_per_second"],
        "peak_gpu_memory_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1)
        if cuda
        else None,
        "batch_size": _config(outcome.run_dir).get("batch_size"),
        "fold_auc": [f.get("roc_auc") for f in outcome.metrics["folds"]],
        "history_gpu": _gpu_columns(outcome.run_dir),
        "loaded": loaded,
    }


def _config(run_dir: Path | None) -> dict[str, Any]:
    return json.loads((run_dir / "config.json").read_text()) if run_dir else {}


def _gpu_columns(run_dir: Path | None) -> dict[str, Any] | None:
    """Mean utilisation and the highest peak memory over the epochs, from history.csv."""
    if run_dir is None:
        return None
    with (run_dir / "history.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    util = [float(r["gpu_utilization"]) for r in rows if r.get("gpu_utilization")]
    peak = [float(r["gpu_peak_memory_mb"]) for r in rows if r.get("gpu_peak_memory_mb")]
    if not (util or peak):
        return None
    return {
        "mean_utilization": round(sum(util) / len(util), 1) if util else None,
        "max_epoch_peak_memory_mib": max(peak) if peak else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny version for the CPU")
    parser.add_argument("--workdir", help="default: a temporary folder, deleted afterwards")
    args = parser.parse_args()
    spec = QUICK if args.quick else FULL
    work = Path(args.workdir or tempfile.mkdtemp(prefix="medview-gpu-cv-"))
    started = time.perf_counter()
    project = write_volumes(work, spec["items"], spec["size"])
    checkpoint = write_checkpoint(work / "resnet_10_23dataset.pth")
    setup = time.perf_counter() - started
    report = {"protocol": spec, "quick": args.quick, "setup_seconds": round(setup, 2)}
    report.update(run(project, checkpoint, spec, args.quick))
    print(json.dumps(report))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
