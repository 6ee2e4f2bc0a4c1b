"""What a user gets from Train with no settings touched: Auto vs the old defaults.

Cases (each a real ``run_training`` on a real project, so loading, the Auto plan, the probe,
folds, calibration and the report are all included in the wall time):
* the bundled example (``medview demo``), its 3D half and its 2D half:
  ``auto`` (the window's new default), ``quick`` (the new Quick check) and ``old_quick`` (the
  old window default: small CNN, 3 folds, 3 epochs, batch 8, Adam 1e-3, no augmentation);
* the shared PneumoniaMNIST subset imported as PNGs (its test split marked ``test``):
  ``auto``, ``old_quick`` and ``plain_resnet18``, a plain PyTorch loop (ResNet-18 at 28 px,
  batch 128, Adam 1e-3) trained on the same training items and scored on the same test items;
* ``batch_sweep``: samples/s of the Auto-chosen batch size against the best of a sweep, for
  the PneumoniaMNIST model and input (the "within 0.8x of the best batch size" goal).

Fields: accuracy (fold mean at 0.5, and test at 0.5 / at the chosen threshold where there is a
test split), AUC, ECE before/after temperature scaling, wall and CPU seconds, chosen settings.

    OMP_NUM_THREADS=2 .venv/bin/python bench/defaults.py [--seeds 3] [--only demo3d,demo2d]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

NPZ = Path("/work/shared/data/pneumoniamnist_balanced.npz")
OLD_QUICK = dict(
    auto=False, folds=3, epochs=3, batch_size=8, lr=1e-3, augment="none", calibrate=False,
    threshold="0.5",
)  # fmt: skip


def _summary(outcome, wall: float, cpu: float) -> dict:
    m = outcome.metrics
    s = m.get("summary", {})
    out = {
        "status": outcome.status,
        "accuracy_folds": (s.get("accuracy") or {}).get("mean"),
        "accuracy_folds_std": (s.get("accuracy") or {}).get("std"),
        "auc_folds": (s.get("roc_auc") or {}).get("mean"),
        "auc_folds_std": (s.get("roc_auc") or {}).get("std"),
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "train_samples_per_second": m.get("timing", {}).get("train_samples_per_second"),
    }
    cal = m.get("calibration")
    if cal:
        out["ece_oof_before"] = cal.get("ece_before")
        out["ece_oof_after"] = cal.get("ece_after")
        out["temperature"] = cal.get("temperature")
        out["threshold"] = cal.get("threshold")
    test = m.get("test")
    if test:
        out["test_auc"] = test.get("roc_auc")
        out["test_accuracy"] = test.get("accuracy")
        out["test_threshold"] = test.get("threshold")
        out["test_accuracy_at_0.5"] = (test.get("at_0.5") or test).get("accuracy")
        out["test_ece_before"] = test.get("ece_before")
        out["test_ece_after"] = test.get("ece")
    config = json.loads((outcome.run_dir / "config.json").read_text())
    keys = ("model", "size", "epochs", "batch_size", "lr", "optimizer", "scheduler",
            "warmup_epochs", "augment", "ema", "tta", "label_smoothing", "class_weights",
            "folds")  # fmt: skip
    out["settings"] = {k: config.get(k) for k in keys}
    auto = config.get("resolved", {}).get("auto") or {}
    if auto.get("estimate"):
        out["estimated_seconds"] = auto["estimate"].get("seconds")
    return out


def train(folder: Path, **kw) -> dict:
    from training.api import run_training
    from training.config import TrainConfig

    cfg = TrainConfig(project=str(folder), predict_unlabelled=False, **kw)
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = run_training(cfg)
    result = _summary(outcome, time.perf_counter() - wall, time.process_time() - cpu)
    if outcome.status != "finished":
        result["error"] = outcome.error
    return result


def demo_project(root: Path) -> Path:
    from medview.demo import create_demo_project

    folder = root / "example.medview"
    create_demo_project(folder).close()
    return folder


def pneumonia_project(root: Path, n_pool: int, n_test: int) -> tuple[Path, dict]:
    from PIL import Image

    from medview.core.project import Project
    from medview.io.importer import import_sources

    data = np.load(NPZ)
    rng = np.random.default_rng(0)
    project = Project.create(root / "pneumonia.medview", ["normal", "pneumonia"])
    arrays = {}
    for split, n in (("train", n_pool), ("test", n_test)):
        y = data[f"{split}_labels"].ravel().astype(int)
        keep = np.sort(
            np.concatenate(
                [rng.choice(np.flatnonzero(y == c), n // 2, replace=False) for c in (0, 1)]
            )
        )
        arrays[split] = (data[f"{split}_images"][keep], y[keep])
        for k, (img, label) in enumerate(zip(*arrays[split], strict=True)):
            path = root / "png" / split / ("normal", "pneumonia")[label] / f"{split}{k:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(path)
    import_sources(project, [root / "png" / "train"], label_from="folder")
    import_sources(project, [root / "png" / "test"], label_from="folder", split="test")
    folder = project.folder
    project.close()
    return folder, arrays


def plain_resnet18(arrays: dict, epochs: int, seed: int) -> dict:
    """The plain PyTorch loop of the issue: ResNet-18 (torchvision, from scratch, 3-channel
    28 px), batch 128, Adam 1e-3, fixed epochs, last epoch scored on the test items."""
    import torch.nn.functional as F
    import torchvision
    from sklearn.metrics import roc_auc_score

    from training.calibration import expected_calibration_error

    torch.manual_seed(seed)
    x_tr = torch.from_numpy(arrays["train"][0]).float()[:, None].repeat(1, 3, 1, 1) / 255
    y_tr = torch.from_numpy(arrays["train"][1]).long()
    x_te = torch.from_numpy(arrays["test"][0]).float()[:, None].repeat(1, 3, 1, 1) / 255
    y_te = arrays["test"][1]
    mean, std = x_tr.mean(), x_tr.std()
    x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    model = torchvision.models.resnet18(num_classes=2)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x_tr))
        for start in range(0, len(order), 128):
            idx = order[start : start + 128]
            opt.zero_grad()
            F.cross_entropy(model(x_tr[idx]), y_tr[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        probs = torch.cat([model(x_te[i : i + 256]).softmax(1) for i in range(0, len(x_te), 256)])
    probs = probs.double().numpy()
    return {
        "test_auc": float(roc_auc_score(y_te, probs[:, 1])),
        "test_accuracy": float((probs.argmax(1) == y_te).mean()),
        "test_ece": expected_calibration_error(probs, y_te),
        "wall_seconds": round(time.perf_counter() - wall, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "settings": {
            "model": "resnet18",
            "size": 28,
            "batch_size": 128,
            "optimizer": "adam",
            "lr": 1e-3,
            "epochs": epochs,
        },  # fmt: skip
    }


def batch_sweep(n_train: int) -> dict:
    """Samples/s of cnn_small at 64 px (PneumoniaMNIST's Auto input) per batch size, and the
    Auto probe's choice, measured the same way (a few steps each after a warm-up)."""
    from training.batch_size import choose_batch_size
    from training.models import build_model

    model = build_model("cnn_small", 2, 1)
    opt = torch.optim.AdamW(model.parameters(), 3e-3)
    x = torch.randn(256, 1, 64, 64)

    def step(bs: int) -> float:
        started = time.perf_counter()
        opt.zero_grad()
        model(x[:bs]).sum().backward()
        opt.step()
        return time.perf_counter() - started

    rates = {}
    for bs in (8, 16, 32, 64, 128, 256):
        step(bs)
        rates[bs] = round(3 * bs / sum(step(bs) for _ in range(3)), 1)
    choice = choose_batch_size(step, device_type="cpu", n_train=n_train, kind="2d")
    best = max(rates, key=rates.get)
    chosen_rate = rates.get(choice.batch_size)
    return {
        "samples_per_second": rates,
        "best_batch_size": best,
        "auto_batch_size": choice.batch_size,
        "auto_over_best": round(chosen_rate / rates[best], 3) if chosen_rate else None,
        "old_default_8_over_best": round(rates[8] / rates[best], 3),
    }


def _mean(rows: list[dict], key: str) -> dict | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 4), "std": round(std, 4), "n": len(values)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3, help="PneumoniaMNIST seeds")
    ap.add_argument("--only", default="demo3d,demo2d,pneumonia,sweep")
    ap.add_argument("--n-pool", type=int, default=400, help="PneumoniaMNIST training pool")
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--folds", type=int, default=3, help="PneumoniaMNIST folds (Auto)")
    ap.add_argument("--resnet-epochs", type=int, default=30)
    ap.add_argument("--out", help="also write the JSON here, after each case")
    args = ap.parse_args()
    torch.set_num_threads(2)
    only = set(args.only.split(","))
    report: dict = {"protocol": vars(args)}

    def save() -> None:
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=2))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if only & {"demo3d", "demo2d"}:
            folder = demo_project(root)
            for kind in ("3d", "2d"):
                if f"demo{kind}" not in only:
                    continue
                case = report.setdefault(f"example_{kind}", {})
                case["auto"] = train(folder, kind=kind)
                save()
                case["quick"] = train(folder, kind=kind, quick=True, folds=3)
                save()
                model = "cnn3d_small" if kind == "3d" else "cnn_small"
                case["old_quick"] = train(folder, model=model, **OLD_QUICK)
                save()
        if "pneumonia" in only and NPZ.is_file():
            folder, arrays = pneumonia_project(root, args.n_pool, args.n_test)
            case = report.setdefault("pneumonia", {"protocol": (
                f"balanced subsets: {args.n_pool} training-pool PNGs from the npz train split, "
                f"{args.n_test} test PNGs (split=test) from its test split; Auto and old_quick "
                f"use {args.folds}-fold CV on the pool, test = fold ensemble; plain_resnet18 "
                f"trains on the whole pool for {args.resnet_epochs} epochs"
            )})  # fmt: skip
            for name, kw in (
                ("auto", {"folds": args.folds}),
                ("old_quick", {**OLD_QUICK, "model": "cnn_small", "folds": args.folds}),
            ):
                runs = [train(folder, seed=s, **kw) for s in range(args.seeds)]
                case[name] = {
                    "runs": runs,
                    **{k: _mean(runs, k) for k in ("test_auc", "test_accuracy", "test_ece_after",
                                                   "test_ece_before", "wall_seconds")},
                }  # fmt: skip
                save()
            runs = [plain_resnet18(arrays, args.resnet_epochs, s) for s in range(args.seeds)]
            case["plain_resnet18"] = {
                "runs": runs,
                **{k: _mean(runs, k) for k in ("test_auc", "test_accuracy", "test_ece",
                                               "wall_seconds")},
            }  # fmt: skip
            save()
        if "sweep" in only:
            report["batch_sweep"] = batch_sweep(args.n_pool)
            save()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
