"""What a user gets from Train with no settings touched: Auto vs the old defaults.

Cases (each a real ``run_training`` on a real project, so loading, the Auto plan, the probe,
folds, calibration and the report are all included in the wall time):
* the bundled example (``medview demo``), its 3D half and its 2D half:
  ``auto`` (the window's new default), ``quick`` (the new Quick check) and ``old_quick`` (the
  old window default: small CNN, 3 folds, 3 epochs, batch 8, Adam 1e-3, no augmentation),
  each over ``--example-seeds`` fold splits;
* the shared PneumoniaMNIST subset imported as PNGs with the npz's own split (2428 train, 270
  val, 468 test): ``pneumonia_auto`` (Auto), ``pneumonia_old`` (``--no-auto``: the old
  defaults), both one hold-out run validated on the val items and scored on the test items,
  and ``pneumonia_resnet``, a plain PyTorch loop (ResNet-18 at 28 px, batch 128, Adam 1e-3,
  30 epochs) trained on the same training items and scored on the same test items; each over
  ``--seeds`` seeds;
* ``pneumonia_old_rate``: the old defaults' samples/s and the hours their 30 epochs take, for
  machines where ``pneumonia_old`` does not fit;
* ``sweep2d`` / ``sweep3d``: samples/s of the Auto-chosen batch size against the best of a sweep
  in the same process (the "within 0.8x of the best batch size" goal).

Fields: accuracy (fold mean at 0.5, and test at 0.5 / at the chosen threshold where there is a
test split), AUC, ECE before/after temperature scaling, wall and CPU seconds, chosen settings.

    OMP_NUM_THREADS=2 .venv/bin/python bench/defaults.py [--seeds 3] [--only demo3d,sweep2d,...]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

# ../shared/data beside the checkout (the brief's layout); absent: those cases are skipped
NPZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "pneumoniamnist_balanced.npz"
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
        out["oof_accuracy_at_threshold"] = (cal.get("oof_at_threshold") or {}).get("accuracy")
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
    from training.engine.api import run_training
    from training.recipe.config import TrainConfig

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


def pneumonia_project(root: Path, n_train: int | None) -> tuple[Path, dict]:
    """The npz's own split as a project: train PNGs unmarked, val marked ``val`` (the hold-out's
    validation part), test marked ``test``. ``n_train``: a class-balanced subset of train."""
    from PIL import Image

    from medview.core.project import Project
    from medview.io.importer import import_sources

    data = np.load(NPZ)
    rng = np.random.default_rng(0)
    project = Project.create(root / "pneumonia.medview", ["normal", "pneumonia"])
    arrays = {}
    for split in ("train", "val", "test"):
        y = data[f"{split}_labels"].ravel().astype(int)
        keep = np.arange(len(y))
        if split == "train" and n_train:
            keep = np.sort(np.concatenate([
                rng.choice(np.flatnonzero(y == c), n_train // 2, replace=False) for c in (0, 1)
            ]))  # fmt: skip
        arrays[split] = (data[f"{split}_images"][keep], y[keep])
        for k, (img, label) in enumerate(zip(*arrays[split], strict=True)):
            path = root / "png" / split / ("normal", "pneumonia")[label] / f"{split}{k:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(path)
        marked = None if split == "train" else split
        import_sources(project, [root / "png" / split], label_from="folder", split=marked)
    folder = project.folder
    project.close()
    return folder, arrays


def plain_resnet18(arrays: dict, epochs: int, seed: int) -> dict:
    """The plain PyTorch loop of the issue: ResNet-18 (torchvision, from scratch, 3-channel
    28 px), batch 128, Adam 1e-3, fixed epochs, last epoch scored on the test items."""
    import torch.nn.functional as F
    import torchvision
    from sklearn.metrics import roc_auc_score

    from training.recipe.calibration import expected_calibration_error

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


def old_defaults_rate(n_train: int, epochs: int = 30, steps: int = 6) -> dict:
    """The old defaults' training speed on PneumoniaMNIST (ResNet-18 at its default 224 px,
    batch 8, Adam 1e-3, light augmentation): samples/s of ``steps`` timed steps after a
    warm-up, and the hours their ``epochs`` epochs on ``n_train`` items would take. For when
    the full old-defaults run does not fit on the machine (on 2 CPU cores it takes hours)."""
    step = _timed_step("resnet18", (3, 224, 224), "light", 8, lambda p: torch.optim.Adam(p, 1e-3))
    rate = 8 / statistics.median([step(8) for _ in range(steps + 1)][1:])
    return {
        "settings": {"model": "resnet18", "size": 224, "batch_size": 8, "optimizer": "adam",
                     "lr": 1e-3, "augment": "light", "epochs": epochs},
        "train_samples_per_second": round(rate, 1),
        "hours_for_the_epochs": round(n_train * epochs / rate / 3600, 2),
    }  # fmt: skip


SWEEP_CASES = {
    # kind: (model, input shape, training items, augmentation) -- Auto's input for
    # PneumoniaMNIST (2D) and a 3D set big enough for the probe to have a choice.
    "2d": ("cnn_small", (1, 64, 64), 2428, "light"),
    "3d": ("cnn3d_small", (1, 32, 32, 32), 400, "strong"),
}


def _sweep_step(kind: str):
    """One training step of the run's model with its augmentation (as training/engine/timing.py)."""
    name, shape, _n, augment = SWEEP_CASES[kind]
    optimizer = lambda params: torch.optim.AdamW(params, 3e-3)  # noqa: E731
    return _timed_step(name, shape, augment, max(MAX_SWEEP[kind]), optimizer)


def _timed_step(name: str, shape: tuple[int, ...], augment: str, max_batch: int, optimizer):
    """``step(bs)``: the seconds of one training step of a fresh ``name`` on ``bs`` random
    inputs of ``shape`` (C, *spatial), augmented, in the engine's memory layout."""
    from training.engine.batches import model_to_fast_layout
    from training.engine.models import build_model
    from training.engine.transforms import build_augmentation

    device = torch.device("cpu")
    model = model_to_fast_layout(build_model(name, 2, shape[0]), name, len(shape) - 1, device)
    opt = optimizer(model.parameters())
    aug = build_augmentation(augment, len(shape) - 1, shape[0], 0)
    x = torch.randn(max_batch, *shape)

    def step(bs: int) -> float:
        started = time.perf_counter()
        batch = aug(x[:bs])
        opt.zero_grad()
        model(batch).sum().backward()  # the cost of a loss's backward, without targets
        opt.step()
        return time.perf_counter() - started

    return step


MAX_SWEEP = {"2d": (4, 8, 16, 32, 64, 128, 256), "3d": (4, 8, 16, 32, 64)}
SWEEP_SAMPLES = {"2d": 256, "3d": 64}  # samples timed per size and round (at least 2 steps)


def batch_sweep(kind: str, rounds: int = 3) -> dict:
    """Samples/s per batch size (round-robin over the sizes, ``rounds`` times, so machine-load
    drift hits every size alike; the best round counts), and the Auto probe's choice made with
    the same step in the same process, before and after the sweep (since issue 25 the CPU
    choice is a rule of data and memory, no probe: both are the same)."""
    from training.engine.batch_size import cpu_batch_size

    step = _sweep_step(kind)
    sizes = MAX_SWEEP[kind]
    n_train = SWEEP_CASES[kind][2]
    probe = functools.partial(cpu_batch_size, n_train, kind, None, None)
    before = probe()
    seconds: dict[int, list[float]] = {bs: [] for bs in sizes}
    for bs in sizes:
        step(bs)  # warm-up
    for _ in range(rounds):
        for bs in sizes:
            reps = max(2, SWEEP_SAMPLES[kind] // bs)
            seconds[bs].append(sum(step(bs) for _ in range(reps)) / (reps * bs))
    after = probe()
    rates = {bs: round(1 / min(s), 1) for bs, s in seconds.items()}
    best = max(rates, key=rates.__getitem__)
    return {
        "case": dict(zip(("model", "input", "n_train", "augment"), SWEEP_CASES[kind], strict=True)),
        "samples_per_second": rates,
        "best_batch_size": best,
        "auto_batch_size": [before.batch_size, after.batch_size],
        "auto_over_best": [round(rates[c.batch_size] / rates[best], 3) for c in (before, after)],
        "old_default_8_over_best": round(rates[8] / rates[best], 3),
        "probe_samples_per_second": [c.to_json()["samples_per_second"] for c in (before, after)],
    }


def _mean(rows: list[dict], key: str) -> dict | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 4), "std": round(std, 4), "n": len(values)}


def _seeded(runs: list[dict], keys: tuple[str, ...]) -> dict:
    return {"runs": runs, **{k: _mean(runs, k) for k in keys}}


RUN_KEYS = ("test_auc", "test_accuracy", "test_ece_after", "test_ece_before", "wall_seconds")


EXAMPLE_KEYS = ("accuracy_folds", "auc_folds", "oof_accuracy_at_threshold", "wall_seconds")


def example_cases(root: Path, only: set[str], seeds: int, report: dict, save) -> None:
    """Auto, the quick check and the old window default on each half, over ``seeds`` fold
    splits (``--seed``), each case's runs with their mean and std."""
    folder = demo_project(root)
    for kind in ("3d", "2d"):
        if f"demo{kind}" not in only:
            continue
        case = report.setdefault(f"example_{kind}", {})
        model = "cnn3d_small" if kind == "3d" else "cnn_small"
        presets = {
            "auto": dict(kind=kind),
            "quick": dict(kind=kind, quick=True, folds=3),
            "old_quick": dict(model=model, **OLD_QUICK),
        }
        for name, kw in presets.items():
            runs = [train(folder, seed=seed, **kw) for seed in range(seeds)]
            case[name] = _seeded(runs, EXAMPLE_KEYS)
            save()


def pneumonia_cases(root: Path, only: set[str], args, report: dict, save) -> None:
    """Auto and the old defaults (--no-auto) as one hold-out run on the npz's split (its val
    part validates, its test part scores), and the plain ResNet-18 loop on the same train and
    test items; ``--old-epochs`` shortens the old defaults where their 30 epochs do not fit."""
    folder, arrays = pneumonia_project(root, args.n_train)
    seeds = range(args.seeds)
    case = report.setdefault("pneumonia", {})
    case["protocol"] = (
        f"npz split: {len(arrays['train'][1])} train / {len(arrays['val'][1])} val / "
        f"{len(arrays['test'][1])} test at 28 px; Auto and the old defaults: --holdout with the "
        f"npz's val items as validation, scored on its test items; plain_resnet18 trains on the "
        f"train items for {args.resnet_epochs} epochs (last epoch) and is scored on the same test"
    )
    if "pneumonia_auto" in only:
        case["auto"] = _seeded([train(folder, seed=s, holdout=True) for s in seeds], RUN_KEYS)
        save()
    if "pneumonia_old" in only:
        old = {"auto": False, "holdout": True}
        if args.old_epochs:
            old["epochs"] = args.old_epochs
        case["old_defaults"] = _seeded([train(folder, seed=s, **old) for s in seeds], RUN_KEYS)
        case["old_defaults"]["epochs_override"] = args.old_epochs
        save()
    if "pneumonia_old_rate" in only:
        case["old_defaults_rate"] = old_defaults_rate(len(arrays["train"][1]))
        save()
    if "pneumonia_resnet" in only:
        runs = [plain_resnet18(arrays, args.resnet_epochs, s) for s in seeds]
        case["plain_resnet18"] = _seeded(runs, ("test_auc", "test_accuracy", "test_ece",
                                                "wall_seconds"))  # fmt: skip
        save()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3, help="PneumoniaMNIST seeds")
    ap.add_argument("--example-seeds", type=int, default=3, help="fold splits of the example")
    ap.add_argument(
        "--only",
        default="demo3d,demo2d,pneumonia_auto,pneumonia_old,pneumonia_resnet,sweep2d,sweep3d",
    )
    ap.add_argument("--n-train", type=int, default=None, help="PneumoniaMNIST: train subset")
    ap.add_argument("--resnet-epochs", type=int, default=30)
    ap.add_argument("--old-epochs", type=int, default=None, help="shorten the old defaults")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="also write the JSON here, after each case")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    only = set(args.only.split(","))
    report: dict = {"protocol": vars(args)}

    def save() -> None:
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=2))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if only & {"demo3d", "demo2d"}:
            example_cases(root, only, args.example_seeds, report, save)
        if any(c.startswith("pneumonia") for c in only) and NPZ.is_file():
            pneumonia_cases(root, only, args, report, save)
        for kind in ("2d", "3d"):
            if f"sweep{kind}" in only:
                report[f"batch_sweep_{kind}"] = batch_sweep(kind)
                save()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
