"""Training throughput: medview's engine vs a plain PyTorch loop on the same in-memory tensors.

Both sides get the same model (same initial weights), batch size, thread count, optimizer and
data; only the training phase is timed (validation excluded), after a warm-up epoch. The
engine side is ``training.loop.fit`` - the exact code ``medview train`` runs per fold - so any
per-batch overhead it adds (cancel checks, progress, loss bookkeeping) shows in the ratio.

Two baselines: ``plain_dataloader`` (the usual DataLoader(TensorDataset) loop) and
``plain_indexed`` (a hand-written loop that indexes the tensors directly, the fastest plain
option). Prints one JSON line.

    .venv/bin/python bench/train_throughput.py [--model cnn3d_small] [--size 32] [--n 96]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from training.config import TrainConfig, model_kind  # noqa: E402
from training.freeze import set_train_mode  # noqa: E402
from training.loop import Context, fit, resolve_device  # noqa: E402
from training.models import build_model  # noqa: E402


def make_data(n: int, size: int, ndim: int, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn((n, channels) + (size,) * ndim, generator=g)
    y = torch.arange(n) % 2
    x[y == 1, :, : size // 2] += 1.0  # a learnable difference, so losses are realistic
    return x, y


def plain_epoch_dataloader(model, x, y, batch, optimizer, criterion, device) -> int:
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=batch, shuffle=True
    )
    model.train()
    seen = 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        loss = criterion(model(inputs).reshape(-1), targets.float())
        loss.backward()
        optimizer.step()
        seen += len(inputs)
    return seen


def plain_epoch_indexed(model, x, y, batch, optimizer, criterion, device) -> int:
    model.train()
    order = torch.randperm(len(x))
    seen = 0
    for start in range(0, len(x), batch):
        idx = order[start : start + batch]
        inputs, targets = x[idx].to(device), y[idx].to(device)
        optimizer.zero_grad()
        loss = criterion(model(inputs).reshape(-1), targets.float())
        loss.backward()
        optimizer.step()
        seen += len(idx)
    return seen


def time_plain(epoch_fn, model_name, x, y, args, device) -> tuple[float, float]:
    torch.manual_seed(0)
    model = build_model(model_name, 2, x.shape[1]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.BCEWithLogitsLoss()
    epoch_fn(model, x, y, args.batch_size, optimizer, criterion, device)  # warm-up
    wall, cpu = [], []
    for _ in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        seen = epoch_fn(model, x, y, args.batch_size, optimizer, criterion, device)
        wall.append(seen / (time.perf_counter() - t0))
        cpu.append(seen / (time.process_time() - c0))
    return statistics.median(wall), statistics.median(cpu)


def time_engine(model_name, x, y, args, device) -> tuple[float, float]:
    torch.manual_seed(0)
    model = build_model(model_name, 2, x.shape[1]).to(device)
    cfg = TrainConfig(
        model=model_name,
        epochs=args.epochs + 1,
        batch_size=args.batch_size,
        lr=1e-3,
        augment="none",
    )
    # Validation on 2 items: the engine evaluates every epoch, which is not timed.
    xv = torch.cat([x, x[:2]])
    yv = torch.cat([y, y[:2]])
    ctx = Context(xv, yv, 2, device)
    result = fit(
        model,
        model,
        cfg,
        ctx,
        list(range(len(x))),
        [len(x), len(x) + 1],
        lambda: set_train_mode(model, model_name, "all"),
        1,
    )
    # The history has each epoch's training-phase seconds and samples; skip the warm-up epoch.
    rows = result.history[1:]
    return (
        statistics.median(r["train_samples"] / r["train_seconds"] for r in rows),
        statistics.median(r["train_samples"] / r["train_cpu_seconds"] for r in rows),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn3d_small")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--n", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    ndim = 3 if model_kind(args.model) == "3d" else 2
    channels = 1 if args.model in ("cnn3d_small", "cnn_small") or ndim == 3 else 3
    x, y = make_data(args.n, args.size, ndim, channels)
    sides = {
        "engine": lambda: time_engine(args.model, x, y, args, device),
        "plain_dataloader": lambda: time_plain(
            plain_epoch_dataloader, args.model, x, y, args, device
        ),
        "plain_indexed": lambda: time_plain(plain_epoch_indexed, args.model, x, y, args, device),
    }
    results: dict[str, list[float]] = {}
    # Rotate the order every round so drift (thermal, other load) hits every side alike; the
    # best round of each side is reported (the least disturbed one).
    names = list(sides)
    for r in range(args.rounds):
        for name in names[r % 3 :] + names[: r % 3]:
            results.setdefault(name, []).append(sides[name]())
    wall = {k: max(v[0] for v in vs) for k, vs in results.items()}
    cpu = {k: max(v[1] for v in vs) for k, vs in results.items()}
    print(
        json.dumps(
            {
                "bench": "train_throughput",
                "model": args.model,
                "input": [channels] + [args.size] * ndim,
                "n": args.n,
                "batch_size": args.batch_size,
                "threads": args.threads,
                "device": str(device),
                "engine_samples_per_s": round(wall["engine"], 2),
                "plain_dataloader_samples_per_s": round(wall["plain_dataloader"], 2),
                "plain_indexed_samples_per_s": round(wall["plain_indexed"], 2),
                "ratio": round(wall["engine"] / wall["plain_dataloader"], 3),
                "ratio_vs_indexed": round(wall["engine"] / wall["plain_indexed"], 3),
                # Samples per CPU-second: robust to other processes sharing the machine.
                "cpu_ratio": round(cpu["engine"] / cpu["plain_dataloader"], 3),
                "cpu_ratio_vs_indexed": round(cpu["engine"] / cpu["plain_indexed"], 3),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
