"""Ablation of the from-scratch recipe (docs/auto.md): which components earn their place.

Each configuration is the full recipe with one component taken out (or swapped), plus the old
manual defaults; every one is trained with ``training.loop.fit`` (the engine's own loop) on
the same split for several seeds, and scored on a held-out test set: ROC AUC, accuracy at 0.5
and the expected calibration error, mean ± std over seeds. Prints one JSON object.

Data (subset sizes are arguments, printed in the JSON):
* ``pneumonia``: /work/shared/data/pneumoniamnist_balanced.npz (28 px grey chest X-rays);
  class-balanced subsets of its train / val / test splits.
* ``synth3d``: generated volumes like the bundled example's (a brighter, larger inclusion in
  the mutants, overlapping ranges), at a harder noise level.

    OMP_NUM_THREADS=2 .venv/bin/python bench/recipe.py --seeds 3 --epochs 12
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from training.batches import model_to_fast_layout  # noqa: E402
from training.calibration import expected_calibration_error  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.freeze import set_train_mode  # noqa: E402
from training.loop import Context, fit, predict, seed_everything  # noqa: E402
from training.metrics import _roc_auc  # noqa: E402
from training.models import build_model  # noqa: E402
from training.transforms import build_augmentation  # noqa: E402

# ../shared/data beside the checkout (the brief's layout); absent: those cases are skipped
NPZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist_balanced.npz"
RECIPE = dict(
    optimizer="adamw",
    lr=3e-3,
    weight_decay=0.05,
    scheduler="cosine",
    warmup_epochs=1,
    ema=True,
    tta=True,
    label_smoothing=0.0,
)
OLD = dict(
    optimizer="adam",
    lr=1e-3,
    weight_decay=0.0,
    scheduler="none",
    warmup_epochs=0,
    ema=False,
    tta=False,
    augment="light",
)
# name -> (overrides of the recipe, upsample 2D to 64 px)
# The ablation runs at 28 px (5x cheaper on the shared CPU); upsampling is one comparison.
CONFIGS_2D = {
    "recipe + upsampling 28->64 px": ({}, True),
    "recipe (AdamW+warm-up+cosine, EMA, flip TTA, light aug), 28 px": ({}, False),
    "- EMA": ({"ema": False}, False),
    "- flip TTA": ({"tta": False}, False),
    "- augmentation": ({"augment": "none"}, False),
    "one-cycle instead of cosine": ({"scheduler": "onecycle"}, False),
    "Adam 1e-3 constant (no AdamW/schedule)": (
        {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "scheduler": "none"},
        False,
    ),
    "old defaults (Adam 1e-3, light aug, 28 px)": (OLD, False),
}
CONFIGS_3D = {
    "recipe (AdamW+warm-up+cosine, EMA, flip TTA, strong aug)": ({"augment": "strong"}, True),
    "- EMA": ({"augment": "strong", "ema": False}, True),
    "- flip TTA": ({"augment": "strong", "tta": False}, True),
    "light augmentation": ({"augment": "light"}, True),
    "Adam 1e-3 constant (no AdamW/schedule)": (
        {
            "augment": "strong",
            "optimizer": "adam",
            "lr": 1e-3,
            "weight_decay": 0.0,
            "scheduler": "none",
        },
        True,
    ),  # fmt: skip
    "old defaults (Adam 1e-3, light aug)": (OLD, True),
}


def _zscore(x: torch.Tensor) -> torch.Tensor:
    dims = tuple(range(1, x.dim()))
    return (x - x.mean(dims, keepdim=True)) / x.std(dims, keepdim=True).clamp(min=1e-6)


def _balanced(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    picks = []
    for c in (0, 1):
        idx = np.flatnonzero(labels == c)
        picks.append(rng.choice(idx, min(n // 2, len(idx)), replace=False))
    return np.sort(np.concatenate(picks))


def pneumonia(n_train: int, n_val: int, n_test: int) -> dict:
    data = np.load(NPZ)
    rng = np.random.default_rng(0)
    parts = {}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        y = data[f"{split}_labels"].ravel().astype(int)
        keep = _balanced(y, n, rng)
        parts[split] = (torch.from_numpy(data[f"{split}_images"][keep]).float()[:, None], y[keep])
    return parts


def synth3d(n_train: int, n_val: int, n_test: int, size: int) -> dict:
    rng = np.random.default_rng(1)
    shape = (size,) * 3
    zz, yy, xx = np.meshgrid(
        *[np.arange(s, dtype=np.float32) - s / 2 for s in shape], indexing="ij"
    )
    scale = size / 48

    def volume(mutant: bool) -> np.ndarray:
        body = (xx / (20 * scale)) ** 2 + (yy / (16 * scale)) ** 2 + (zz / (20 * scale)) ** 2 <= 1
        v = np.where(body, 40.0, -900.0) + rng.normal(0, 60, shape)
        off = rng.uniform(-5, 5, 3) * scale
        r = (rng.uniform(4.5, 8.0) if mutant else rng.uniform(3.0, 6.0)) * scale
        c = rng.uniform(70, 130) if mutant else rng.uniform(50, 110)
        inc = (zz - off[0]) ** 2 + (yy - off[1]) ** 2 + (xx - off[2]) ** 2 <= r**2
        return v + np.where(inc, c, 0.0)

    parts = {}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        y = np.arange(n) % 2
        x = np.stack([volume(bool(k)) for k in y]).astype(np.float32)
        parts[split] = (torch.from_numpy(x)[:, None], y)
    return parts


def run_one(parts, model_name, cfg, ndim, upsample, seed):
    xs, ys = [], []
    for split in ("train", "val", "test"):
        x, y = parts[split]
        x = _zscore(x)
        if upsample and ndim == 2:
            x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
        xs.append(x)
        ys.append(torch.as_tensor(y))
    n_tr, n_va = len(ys[0]), len(ys[1])
    x, y = torch.cat(xs).contiguous(), torch.cat(ys).long()
    train_idx = list(range(n_tr))
    val_idx = list(range(n_tr, n_tr + n_va))
    test_idx = list(range(n_tr + n_va, len(y)))
    seed_everything(seed)
    cfg = TrainConfig(**{**cfg, "seed": seed}).with_defaults()
    cpu = torch.device("cpu")
    model = model_to_fast_layout(build_model(model_name, 2, 1), model_name, ndim, cpu)
    augment = build_augmentation(cfg.augment, ndim, 1, seed)
    ctx = Context(x, y, 2, torch.device("cpu"), augment)
    started = time.perf_counter()
    result = fit(
        model,
        model,
        cfg,
        ctx,
        train_idx,
        val_idx,
        lambda: set_train_mode(model, model_name, "all"),
        1,
    )
    model.load_state_dict(result.best_state)
    ctx.tta = bool(cfg.tta)
    probs = predict(model, ctx, test_idx, 64)
    yt = y[test_idx].numpy()
    return {
        "auc": _roc_auc(yt, probs),
        "accuracy": float(((probs[:, 1] >= 0.5).astype(int) == yt).mean()),
        "ece": expected_calibration_error(probs, yt),
        "seconds": time.perf_counter() - started,
    }


def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {
        "mean": round(statistics.fmean(values), 4),
        "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--epochs-3d", type=int, default=12)
    ap.add_argument("--n-train", type=int, default=300)
    ap.add_argument("--n-val", type=int, default=100)
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--n3d", type=int, default=48, help="3D training volumes (val/test: half)")
    ap.add_argument("--size-3d", type=int, default=24)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--only", choices=("pneumonia", "synth3d"))
    ap.add_argument("--out", help="also write the JSON here (rewritten after each config)")
    ap.add_argument(
        "--reuse",
        action="append",
        default=[],
        help="JSON of an earlier run with the same protocol: its configs are not rerun",
    )
    args = ap.parse_args()
    torch.set_num_threads(2)
    report = {
        "protocol": {
            "seeds": args.seeds,
            "pneumonia": f"cnn_small, {args.n_train} train / {args.n_val} val / {args.n_test} "
            f"test (balanced subsets of the npz splits), {args.epochs} epochs, batch {args.batch}",
            "synth3d": f"cnn3d_small at {args.size_3d}^3, {args.n3d} train / {args.n3d // 2} val "
            f"/ {args.n3d} test generated volumes, {args.epochs_3d} epochs, batch 8",
            "selection": "best validation epoch (AUC, then loss), scored on test",
        },
        "results": {},
    }
    sets = []
    if args.only in (None, "pneumonia") and NPZ.is_file():
        sets.append(("pneumonia", pneumonia(args.n_train, args.n_val, args.n_test), "cnn_small",
                     2, CONFIGS_2D, args.epochs, args.batch))  # fmt: skip
    if args.only in (None, "synth3d"):
        data3 = synth3d(args.n3d, args.n3d // 2, args.n3d, args.size_3d)
        sets.append(("synth3d", data3, "cnn3d_small", 3, CONFIGS_3D, args.epochs_3d, 8))
    earlier: dict = {}
    for path in args.reuse:
        for name, rows in json.loads(Path(path).read_text())["results"].items():
            earlier.setdefault(name, {}).update(rows)
    for name, parts, model_name, ndim, configs, epochs, batch in sets:
        table = report["results"].setdefault(name, {})
        for label, (overrides, upsample) in configs.items():
            if label in earlier.get(name, {}):
                table[label] = {**earlier[name][label], "reused": True}
                continue
            cfg = {
                **RECIPE,
                "augment": "light",
                **overrides,
                "epochs": epochs,
                "batch_size": batch,
                "precise_bn": True,
            }
            runs = [run_one(parts, model_name, cfg, ndim, upsample, s) for s in range(args.seeds)]
            table[label] = {k: _stats([r[k] for r in runs]) for k in runs[0]}
            print(f"{name} | {label} | {table[label]}", file=sys.stderr, flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
