"""Auto against a plain from-scratch loop on every real set we have (issue 25, docs/auto.md).

Per set, one fixed stratified train/test split (seed 0) is used by both sides:
* ``plain``: the issue's plain PyTorch loop on the training items, scored on the test items:
  2D ResNet-18 (torchvision, from scratch, 3 channels), batch 128, Adam 1e-3, 30 epochs at the
  set's native size; 3D MONAI ResNet-10, batch 32, Adam 1e-3, 30 epochs. The last epoch is
  scored (no validation part, no early stopping: the plain loop as a user would write it).
* ``auto``: ``medview train`` with nothing set but the effort, on a project whose test items
  are marked ``test`` (Auto's cross-validation never sees them), scored on the same items.

Sets (``--sets``): ``pneumonia`` (the shared PneumoniaMNIST subset: a class-balanced
``--pneumonia-train`` items of train+val, the official test split), ``retina`` (RetinaMNIST:
train+val / test, the official split), ``bccd`` (white-cell crops, a stratified 25 % test
split; the plain loop at ``--bccd-size`` px), ``demo2d`` / ``demo3d`` (the bundled example's
halves, a stratified 25 % test split). Prints one JSON object (also written to ``--out``):
per set and side, test AUC (binary; multiclass: macro one-vs-rest), accuracy, macro and
weighted F1, wall seconds and the chosen settings.

    OMP_NUM_THREADS=2 python bench/auto_suite.py --side plain --out /tmp/plain.json
    OMP_NUM_THREADS=2 python bench/auto_suite.py --side auto --effort standard --out /tmp/a.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

# ../shared/data beside the checkout (the brief's layout); --data names another folder
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = ("pneumonia", "retina", "bccd", "demo2d", "demo3d")


# ----------------------------------------------------------------------------- the sets
def _stratified_test(labels: np.ndarray, share: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.extend(idx[: max(1, round(len(idx) * share))] if len(idx) > 1 else [])
    mask = np.zeros(len(labels), bool)
    mask[test] = True
    return mask


def _npz_set(name: str, n_train: int | None) -> dict:
    data = np.load(DATA / name)
    x = np.concatenate([data["train_images"], data["val_images"]])
    y = np.concatenate([data["train_labels"], data["val_labels"]]).ravel().astype(int)
    if n_train:
        rng = np.random.default_rng(0)
        classes = np.unique(y)
        keep = np.sort(np.concatenate([
            rng.choice(np.flatnonzero(y == c), n_train // len(classes), replace=False)
            for c in classes
        ]))  # fmt: skip
        x, y = x[keep], y[keep]
    return {
        "train": (list(x), y),
        "test": (list(data["test_images"]), data["test_labels"].ravel().astype(int)),
        "classes": [f"c{c}" for c in range(int(y.max()) + 1)],
        "kind": "2d",
        "files": None,
    }


def _bccd_set() -> dict:
    from PIL import Image

    folder = DATA / "bccd_wbc"
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files, labels = [], []
    for k, name in enumerate(classes):
        for path in sorted((folder / name).iterdir()):
            files.append(path)
            labels.append(k)
    y = np.array(labels)
    test = _stratified_test(y, 0.25)
    images = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    pick = lambda m: ([images[i] for i in np.flatnonzero(m)], y[m])  # noqa: E731
    out = {"train": pick(~test), "test": pick(test), "classes": classes, "kind": "2d"}
    out["files"] = {"train": [files[i] for i in np.flatnonzero(~test)],
                    "test": [files[i] for i in np.flatnonzero(test)]}  # fmt: skip
    return out


def _demo_set(kind: str, root: Path) -> dict:
    from medview.demo import create_demo_project

    create_demo_project(root / "example.medview").close()
    sub = "volumes" if kind == "3d" else "images"
    folder = root / "example.medview" / "example-data" / sub
    classes = ["WT", "MUT"]
    files = [(p, k) for k, c in enumerate(classes) for p in sorted((folder / c).iterdir())]
    y = np.array([k for _, k in files])
    test = _stratified_test(y, 0.25)
    images = [_read(p) for p, _ in files]
    pick = lambda m: ([images[i] for i in np.flatnonzero(m)], y[m])  # noqa: E731
    out = {"train": pick(~test), "test": pick(test), "classes": classes, "kind": kind}
    out["files"] = {"train": [files[i][0] for i in np.flatnonzero(~test)],
                    "test": [files[i][0] for i in np.flatnonzero(test)]}  # fmt: skip
    return out


def _read(path: Path) -> np.ndarray:
    if path.name.endswith(".nii.gz"):
        import nibabel as nib

        return np.asarray(nib.load(str(path)).get_fdata(), dtype=np.float32)
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def load_set(name: str, args, root: Path) -> dict:
    if name == "pneumonia":
        return _npz_set("pneumoniamnist_balanced.npz", args.pneumonia_train)
    if name == "retina":
        return _npz_set("retinamnist.npz", None)
    if name == "bccd":
        return _bccd_set()
    return _demo_set("3d" if name == "demo3d" else "2d", root)


# ----------------------------------------------------------------------------- scoring
def scores(probs: np.ndarray, y: np.ndarray) -> dict:
    from sklearn.metrics import f1_score, roc_auc_score

    pred = probs.argmax(1)
    present = np.unique(y)
    if probs.shape[1] == 2:
        auc = roc_auc_score(y, probs[:, 1])
    else:  # macro one-vs-rest over the classes present in the test items
        auc = float(np.mean([roc_auc_score(y == c, probs[:, c]) for c in present]))
    return {
        "test_auc": round(float(auc), 4),
        "test_accuracy": round(float((pred == y).mean()), 4),
        "test_f1_macro": round(float(f1_score(y, pred, average="macro", labels=present)), 4),
        "test_f1_weighted": round(float(f1_score(y, pred, average="weighted")), 4),
        "n_test": len(y),
    }


# ----------------------------------------------------------------------------- plain loop
def _tensor_2d(images: list, size: int) -> torch.Tensor:
    import torch.nn.functional as F

    out = []
    for img in images:
        t = torch.from_numpy(np.asarray(img, np.float32))
        t = t[None].repeat(3, 1, 1) if t.ndim == 2 else t.permute(2, 0, 1)[:3]
        out.append(F.interpolate(t[None], size=(size, size), mode="bilinear")[0] / 255)
    return torch.stack(out)


def _tensor_3d(volumes: list) -> torch.Tensor:
    x = torch.stack([torch.from_numpy(v) for v in volumes])[:, None]
    return (x - x.mean(dim=(2, 3, 4), keepdim=True)) / x.std(dim=(2, 3, 4), keepdim=True)


def plain(parts: dict, size: int, epochs: int, seed: int) -> dict:
    import torch.nn.functional as F

    torch.manual_seed(seed)
    n_classes = len(parts["classes"])
    if parts["kind"] == "3d":
        from monai.networks.nets import resnet10

        model = resnet10(spatial_dims=3, n_input_channels=1, num_classes=n_classes)
        x_tr, x_te = _tensor_3d(parts["train"][0]), _tensor_3d(parts["test"][0])
        batch, settings = 32, {"model": "monai resnet10", "size": list(x_tr.shape[2:])}
    else:
        import torchvision

        model = torchvision.models.resnet18(num_classes=n_classes)
        x_tr, x_te = _tensor_2d(parts["train"][0], size), _tensor_2d(parts["test"][0], size)
        mean, std = x_tr.mean(), x_tr.std()
        x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
        batch, settings = 128, {"model": "resnet18", "size": size}
    y_tr = torch.from_numpy(parts["train"][1]).long()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    wall = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x_tr))
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            if len(idx) < 2:
                continue  # BatchNorm needs two items
            opt.zero_grad()
            F.cross_entropy(model(x_tr[idx]), y_tr[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        probs = torch.cat([model(x_te[i : i + 64]).softmax(1) for i in range(0, len(x_te), 64)])
    out = scores(probs.double().numpy(), parts["test"][1])
    out["wall_seconds"] = round(time.perf_counter() - wall, 1)
    out["settings"] = {**settings, "batch_size": batch, "optimizer": "adam", "lr": 1e-3,
                       "epochs": epochs, "seed": seed}  # fmt: skip
    return out


# ----------------------------------------------------------------------------- Auto
def _write_items(parts: dict, split: str, folder: Path) -> None:
    from PIL import Image

    images, labels = parts[split]
    files = (parts.get("files") or {}).get(split)
    for k, label in enumerate(labels):
        target = folder / split / parts["classes"][label]
        target.mkdir(parents=True, exist_ok=True)
        if files:  # the original file (JPEG, NIfTI): what a user would import
            shutil.copy(files[k], target / files[k].name)
        else:
            Image.fromarray(np.asarray(images[k])).save(target / f"{split}{k:05d}.png")


def auto(parts: dict, root: Path, args, seed: int) -> dict:
    from medview.core.project import Project
    from medview.io.importer import import_sources
    from training.engine.api import run_training
    from training.recipe.config import TrainConfig

    project = Project.create(root / f"auto{seed}.medview", parts["classes"])
    for split in ("train", "test"):
        _write_items(parts, split, root / f"files{seed}")
        marked = "test" if split == "test" else None
        import_sources(project, [root / f"files{seed}" / split], label_from="folder", split=marked)
    folder = project.folder
    project.close()
    extra = json.loads(args.auto_config) if args.auto_config else {}
    cfg = TrainConfig(project=str(folder), predict_unlabelled=False, seed=seed, **extra)
    wall = time.perf_counter()
    outcome = run_training(cfg)
    wall = time.perf_counter() - wall
    if outcome.status != "finished":
        return {"status": outcome.status, "error": outcome.error}
    return _auto_scores(outcome, parts, wall)


def _auto_scores(outcome, parts: dict, wall: float) -> dict:
    import csv

    from medview.core.run_folder import HISTORY, PREDICTIONS
    from training.engine.report import read_predictions

    # fold 0: the run's final prediction (the fold ensemble with flip TTA for test items),
    # calibrated as the run's own test figures are (p_<class>; prob_<class> in older runs)
    classes = parts["classes"]
    rows = read_predictions(outcome.run_dir / PREDICTIONS, classes)
    rows = [r for r in rows if r.fold == 0 and r.split == "test"]
    probs = np.array([r.probs for r in rows])
    y = np.array([r.true for r in rows])
    out = scores(probs, y)
    out["wall_seconds"] = round(wall, 1)
    config = json.loads((outcome.run_dir / "config.json").read_text())
    keys = ("model", "size", "epochs", "batch_size", "lr", "augment", "folds", "effort",
            "profile", "patience")  # fmt: skip
    out["settings"] = {k: config.get(k) for k in keys}
    resolved = config.get("resolved", {}).get("auto") or {}
    out["estimated_seconds"] = (resolved.get("estimate") or {}).get("seconds")
    out["screening"] = resolved.get("screening")
    out["data_profile"] = resolved.get("data")
    history = outcome.run_dir / HISTORY
    if history.exists():  # epochs actually run per fold (patience may stop a fold early)
        fold_rows = list(csv.DictReader(history.open()))
        out["epochs_run"] = {r["fold"]: int(r["epoch"]) for r in fold_rows}
    return out


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", choices=("plain", "auto"), required=True)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=30, help="plain loop epochs")
    ap.add_argument("--pneumonia-train", type=int, default=1000)
    ap.add_argument("--bccd-size", type=int, default=128)
    ap.add_argument("--auto-config", default="", help="JSON of TrainConfig fields for Auto")
    ap.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    globals()["DATA"] = args.data
    native = {"pneumonia": 28, "retina": 28, "bccd": args.bccd_size, "demo2d": 64}
    report: dict = {"side": args.side, "args": {k: str(v) for k, v in vars(args).items()}}
    report["sets"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets.split(","):
            parts = load_set(name, args, Path(tmp) / name)
            runs = []
            for seed in range(args.seeds):
                if args.side == "plain":
                    runs.append(plain(parts, native.get(name, 0), args.epochs, seed))
                else:
                    runs.append(auto(parts, Path(tmp) / name, args, seed))
                report["sets"][name] = runs
                if args.out:
                    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
