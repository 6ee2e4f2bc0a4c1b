"""Training samples/s in the default (contiguous) layout vs channels-last, per model, on this
device: the evidence behind ``training.batches.fast_memory_format``.

Each model gets the same weights, batch and optimizer (AdamW) in both layouts; the two layouts
alternate over ``--rounds`` rounds (a shared machine's load then hits both alike) and each keeps
its best round. Prints one JSON object: per model, both rates and their ratio.

    OMP_NUM_THREADS=2 .venv/bin/python bench/memory_layout.py [--device cpu] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from training.models import build_model  # noqa: E402

# (model, input channels, batch, spatial shape): Auto's models at the sizes Auto gives them,
# and the torchvision families a user picks, at small sizes that a CPU trains in seconds.
CASES = (
    ("cnn_small", 1, 32, (64, 64)),
    ("cnn_small", 3, 16, (128, 128)),
    ("resnet18", 3, 16, (128, 128)),
    ("mobilenet_v2", 3, 16, (96, 96)),
    ("efficientnet_b0", 3, 16, (96, 96)),
    ("densenet121", 3, 16, (64, 64)),
    ("cnn3d_small", 1, 4, (32, 32, 32)),
    ("medicalnet_resnet10", 1, 4, (32, 32, 32)),
    ("medicalnet_resnet10", 1, 2, (64, 64, 64)),
    ("medicalnet_resnet18", 1, 4, (32, 32, 32)),
)


def _step(name, channels, batch, shape, channels_last: bool, device: torch.device):
    torch.manual_seed(0)
    model = build_model(name, 2, channels).to(device)
    x = torch.randn(batch, channels, *shape, device=device)
    if channels_last:
        fmt = torch.channels_last if len(shape) == 2 else torch.channels_last_3d
        model, x = model.to(memory_format=fmt), x.contiguous(memory_format=fmt)
    y = torch.randint(0, 2, (batch, 1), device=device).float()
    optimizer = torch.optim.AdamW(model.parameters(), 3e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()  # warm-up: kernel selection, allocator
    return step


def measure(case, device: torch.device, rounds: int, steps: int) -> dict:
    name, channels, batch, shape = case
    runners = {cl: _step(name, channels, batch, shape, cl, device) for cl in (False, True)}
    best = {False: 0.0, True: 0.0}
    for _ in range(rounds):
        for cl, step in runners.items():
            started = time.perf_counter()
            for _ in range(steps):
                step()
            best[cl] = max(best[cl], batch * steps / (time.perf_counter() - started))
    return {
        "model": name,
        "input": [batch, channels, *shape],
        "default_samples_per_s": round(best[False], 1),
        "channels_last_samples_per_s": round(best[True], 1),
        "ratio": round(best[True] / best[False], 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", help="comma-separated model names")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    only = set(args.only.split(",")) if args.only else None
    rows = [
        measure(case, device, args.rounds, args.steps)
        for case in CASES
        if only is None or case[0] in only
    ]
    print(json.dumps({"device": str(device), "threads": args.threads, "models": rows}, indent=2))


if __name__ == "__main__":
    main()
