"""Streaming vs in-memory training data (issue 17) on a generated 3D set bigger than the
memory budget.

Writes N uint8 NIfTI volumes (a bright block marks the positive class; low-entropy noise so
the files stay small) into a project, sets ``MEDVIEW_TRAIN_MEMORY_MB`` below the set's float32
size so that ``--data auto`` streams, and measures, each phase in its own process (so the peak
resident set size, VmHWM, is that phase's):

* ``stream``: writing the streaming cache (seconds, bytes, codec), loader-only samples/s
  (read + decode + light augmentation, one epoch of shuffled batches, prefetch thread), one
  training epoch, the peak RSS;
* ``memory`` (the budget lifted, as a user with enough RAM): the same from in-memory tensors;
* ``dataloader``: the loader-only figure with a torch DataLoader (2 worker processes doing the
  same read + decode + augmentation), the alternative to the prefetch thread.

Targets: stream peak RSS under 3 GB whatever N; stream training samples/s at least 0.8x the
memory path's. Prints one JSON line.

    OMP_NUM_THREADS=1 python bench/stream.py [--items 300] [--size 48]
    # the real-size run: 4,000 x 128^3 (33.5 GB as float32), a pooling model, no memory phase
    nice python bench/stream.py --items 4000 --size 128 --model pooled --phases stream --epochs 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

GiB = 1024**3


def peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------------------- the data
def _volume(rng: np.random.Generator, positive: bool, size: int) -> np.ndarray:
    vol = rng.integers(0, 4, (size, size, size), dtype=np.uint8) * 8 + 40
    if positive:
        c = rng.integers(size // 4, size - size // 4, 3)
        r = max(2, size // 8)
        vol[c[0] - r : c[0] + r, c[1] - r : c[1] + r, c[2] - r : c[2] + r] += (
            64  # on the 8-level grid: uint8 keeps it exactly
        )
    return vol


def make_project(folder: Path, n: int, size: int, suffix: str = ".nii.gz") -> Path:
    """N labelled uint8 volumes (.nii.gz at gzip level 1, or plain .nii: faster to write and
    read, 2 MiB each at 128^3), registered in a new project."""
    import nibabel as nib

    from medview.core.project import Project

    data = folder / "volumes"
    data.mkdir(parents=True, exist_ok=True)
    nib.openers.Opener.default_compresslevel = 1  # the noise does not compress much anyway
    rng = np.random.default_rng(0)
    entries = []
    for k in range(n):
        path = data / f"v{k:05d}{suffix}"
        image = nib.Nifti1Image(_volume(rng, k % 2 == 1, size), np.eye(4))
        image.header.set_data_dtype(np.uint8)
        nib.save(image, path)
        entries.append(
            {
                "name": path.name,
                "kind": "3d",
                "reader": "nifti",
                "paths": [path],
                "shape": (size, size, size),
                "spacing": (1.0, 1.0, 1.0),
                "content_hash": hashlib.sha1(path.read_bytes()).hexdigest(),
                "size_bytes": path.stat().st_size,
                "label": "MUT" if k % 2 else "WT",
            }
        )
    with Project.create(folder / "bench.medview", ["WT", "MUT"]) as project:
        project.add_items(entries)
        return project.folder


# ---------------------------------------------------------------------------- models
def pooled_model():
    """The real-size run's small model: 4x average pooling, then two small conv blocks. At
    128^3 cnn3d_small needs seconds per sample on a CPU core; this one keeps an epoch of 4,000
    volumes to minutes, so the run measures the data path, not the convolutions."""
    from torch import nn

    return nn.Sequential(
        nn.AvgPool3d(4),
        nn.Conv3d(1, 8, 3, padding=1),
        nn.BatchNorm3d(8),
        nn.ReLU(),
        nn.MaxPool3d(2),
        nn.Conv3d(8, 16, 3, padding=1),
        nn.BatchNorm3d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(16, 1),
    )


def build(name: str):
    import torch

    from training.models import build_model

    model = pooled_model() if name == "pooled" else build_model(name, 2, 1)
    return model.to(memory_format=torch.channels_last_3d)


# ---------------------------------------------------------------------------- phases
def _load(mode: str, folder: Path, size: int) -> tuple[Any, Any, float]:
    from medview.core.project import Project
    from training.data import load_items
    from training.stream_data import load_stream
    from training.transforms import PrepSettings

    project = Project.open(folder)
    items = project.items(labelled=True)
    prep = PrepSettings(3, size, 1)
    started = time.perf_counter()
    loader = load_stream if mode == "stream" else load_items
    data = loader(project, items, prep, ["WT", "MUT"], workers=2)
    return project, data, time.perf_counter() - started


def _epoch_batches(n: int, batch: int, seed: int = 0) -> list[Any]:
    import torch

    from training.data import epoch_batches

    return list(epoch_batches(range(n), batch, torch.Generator().manual_seed(seed)))


def _loader_rate(mode: str, data: Any, batch: int, aug: str) -> float:
    """Samples/s of reading (+ decoding) + light augmentation alone, one shuffled epoch."""
    import torch

    from training.stream_loader import stream_batches
    from training.transforms import augment_batch, build_augmentation

    augment = build_augmentation(aug, 3, 1, seed=0)
    order = _epoch_batches(len(data.items), batch)
    started = time.perf_counter()
    if mode == "stream":
        for _ in stream_batches(data.store, order, torch.device("cpu"), augment):
            pass
    elif mode == "dataloader":
        for _ in _dataloader(data.store, order, aug):
            pass
    else:
        for idx in order:
            augment_batch(data.x[idx], augment)
    return sum(len(b) for b in order) / (time.perf_counter() - started)


class _Items:
    """A map-style Dataset over the store for the DataLoader comparison (items by index)."""

    def __init__(self, store: Any, aug: str) -> None:
        self.store, self.aug = store, aug

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, batch: list[int]) -> Any:
        from training.transforms import build_augmentation

        if not hasattr(self, "augment"):  # one per worker process
            self.augment = build_augmentation(self.aug, 3, 1, seed=0)
        batch = self.store.batch(batch)
        return self.augment(batch) if self.augment is not None else batch


def _dataloader(store: Any, order: list[Any], aug: str) -> Any:
    import torch

    batches = [b.tolist() for b in order]
    return torch.utils.data.DataLoader(
        _Items(store, aug), sampler=batches, batch_size=None, num_workers=2, prefetch_factor=2
    )


def _train_epochs(data: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """``epochs`` epochs of the engine's own loop (training.loop.fit) on all items but 16
    (validation); per epoch its training seconds and samples/s."""
    import torch

    from training.config import TrainConfig
    from training.loop import Context, fit

    torch.manual_seed(0)
    model = build(args.model)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=1e-3, augment=args.augment)
    cfg = cfg.with_defaults()
    cfg.precise_bn = False  # the epoch itself, not the BatchNorm recalibration pass
    from training.transforms import build_augmentation

    augment = build_augmentation(args.augment, 3, 1, seed=0)
    ctx = Context(data.x, data.y, 2, torch.device("cpu"), augment)
    ctx.store = data.store
    ctx.on_epoch = lambda row: print(  # progress for a long run, on stderr
        json.dumps({k: row[k] for k in ("epoch", "train_seconds", "train_samples")}),
        file=sys.stderr,
        flush=True,
    )
    n = len(data.items)
    result = fit(model, model, cfg, ctx, range(n - 16), range(n - 16, n), model.train, 1)
    return [
        {
            "epoch": row["epoch"],
            "train_seconds": round(row["train_seconds"], 2),
            "seconds_with_validation": row["seconds"],
            "samples_per_second": round(row["train_samples"] / row["train_seconds"], 2),
            "train_loss": round(row["train_loss"], 4),
        }
        for row in result.history
    ]


def run_phase(args: argparse.Namespace) -> dict[str, Any]:
    mode = args.phase
    project, data, load_seconds = _load("stream" if mode == "dataloader" else mode,
                                        Path(args.project), args.size)  # fmt: skip
    out: dict[str, Any] = {"phase": mode, "items": len(data.items)}
    if mode != "dataloader":
        out["load_seconds"] = round(load_seconds, 2)
        out["cache_hits"] = data.cache_hits
    if data.store is not None:
        out["cache_bytes"] = data.store.nbytes
        out["codecs"] = sorted({s.codec for s in data.store.shards})
        out["shard_files"] = len(data.store.shards)
    rate = _loader_rate(mode, data, args.batch, args.augment) if args.loader else None
    out["loader_samples_per_second"] = round(rate, 2) if rate else None
    if mode != "dataloader" and args.epochs:
        out["epochs"] = _train_epochs(data, args)
    out["peak_rss_bytes"] = peak_rss()
    data.close()
    project.close()
    return out


def _child(args: argparse.Namespace, phase: str, project: Path, env: dict[str, str]) -> dict:
    cmd = [sys.executable, __file__, "--phase", phase, "--project", str(project)]
    cmd += ["--size", str(args.size), "--batch", str(args.batch), "--model", args.model]
    cmd += ["--epochs", str(args.epochs), "--augment", args.augment]
    cmd += [] if args.loader else ["--no-loader"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"phase": phase, "error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _summary(phases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def rate(phase: str) -> float | None:
        epochs = phases.get(phase, {}).get("epochs") or []
        return max((e["samples_per_second"] for e in epochs), default=None)

    out: dict[str, Any] = {}
    stream, memory = rate("stream"), rate("memory")
    if stream and memory:
        out["train_stream_over_memory"] = round(stream / memory, 3)
    loaders = {p: phases.get(p, {}).get("loader_samples_per_second") for p in phases}
    if loaders.get("stream") and loaders.get("memory"):
        out["loader_stream_over_memory"] = round(loaders["stream"] / loaders["memory"], 3)
    if loaders.get("stream") and loaders.get("dataloader"):
        out["loader_thread_over_dataloader"] = round(loaders["stream"] / loaders["dataloader"], 3)
    if "peak_rss_bytes" in phases.get("stream", {}):
        out["stream_peak_rss_gib"] = round(phases["stream"]["peak_rss_bytes"] / GiB, 3)
        out["stream_peak_rss_under_3gb"] = phases["stream"]["peak_rss_bytes"] < 3e9
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--model", default="cnn3d_small", help="a model name, or 'pooled'")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--augment", default="light", choices=("none", "light", "strong"))
    parser.add_argument("--phases", default="stream,memory,dataloader")
    parser.add_argument("--budget-mb", type=float, help="default: half the float32 set")
    parser.add_argument("--workdir", help="default: a temporary folder, deleted afterwards")
    parser.add_argument("--keep", action="store_true", help="keep the generated project")
    parser.add_argument("--format", default="nii.gz", choices=("nii.gz", "nii"))
    parser.add_argument(
        "--no-loader", dest="loader", action="store_false", help="skip the loader-only epoch"
    )
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args)))
        return
    work = Path(args.workdir or tempfile.mkdtemp(prefix="medview-bench-stream-"))
    project = work / "bench.medview"
    started = time.perf_counter()
    if not project.exists():
        make_project(work, args.items, args.size, "." + args.format)
    float32 = args.items * args.size**3 * 4
    budget_mb = args.budget_mb or float32 / 2 / 2**20
    report: dict[str, Any] = {
        "items": args.items, "size": args.size, "model": args.model, "batch": args.batch,
        "augment": args.augment,
        "float32_gib": round(float32 / GiB, 2), "memory_budget_mib": round(budget_mb, 1),
        "generate_seconds": round(time.perf_counter() - started, 1),
        "source_bytes": sum(p.stat().st_size for p in (work / "volumes").iterdir()),
        "torch_threads": os.environ.get("OMP_NUM_THREADS"),
    }  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDVIEW_TRAIN_MEMORY_MB": str(budget_mb)}
    env["MEDVIEW_TENSOR_CACHE_MB"] = str(max(8192, int(2 * float32 / 2**20)))
    phases: dict[str, dict[str, Any]] = {}
    for phase in args.phases.split(","):
        lifted = {**env, "MEDVIEW_TRAIN_MEMORY_MB": str(4 * float32 / 2**20)}
        phases[phase] = _child(args, phase, project, lifted if phase == "memory" else env)
    report["phases"] = phases
    report.update(_summary(phases))
    print(json.dumps(report))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
