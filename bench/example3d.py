"""What the example's 3D half needs to learn: intensity normalisation x augmentation.

A plain loop (no engine) over the 40 volumes of ``medview demo``, resized to 32^3 as the engine
does, then z-scored over the whole volume (what the engine does) or over the foreground (a
candidate: it lifts the first steps off ln 2 but ends worse, so it was not adopted). Each
configuration trains ``cnn3d_small`` (AdamW 3e-3, warm-up + cosine, batch 8) for ``--steps``
optimizer steps on 3 stratified folds, for each of ``--splits`` random fold splits, and scores
the last step at 0.5 on the held-out fold. Prints JSON: fold accuracy and AUC (mean ± std over
splits) and the training loss over the first 20 and the last 20 steps (ln 2 = 0.693: nothing
fitted).

Also prints the accuracy a logistic regression on hand-made features (how many tissue voxels
are brighter than a few levels, and the brightest ones) reaches with the same folds: what the
images allow when the right features are given.

    OMP_NUM_THREADS=2 .venv/bin/python bench/example3d.py [--steps 160] [--splits 3]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def load_example(root: Path) -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]:
    """(the volumes as the engine preprocesses them: 32^3, whole-volume z-score; labels; raw
    volumes) of the example's 3D half."""
    from medview.core.project import Project
    from medview.demo import create_demo_project
    from medview.io.readers import load_item
    from training.transforms import PrepSettings, preprocess

    create_demo_project(root / "example.medview").close()
    project = Project.open(root / "example.medview")
    volumes = [it for it in project.items() if it.shape[0] > 1]
    images = [load_item(project, it) for it in volumes]
    raw = [np.asarray(image.array, dtype=np.float32) for image in images]
    x = np.stack([preprocess(image, PrepSettings(3, 32, 1)) for image in images])
    y = [1.0 if it.label == "MUT" else 0.0 for it in volumes]
    project.close()
    return torch.from_numpy(x), torch.tensor(y), raw


def foreground_zscore(volume: torch.Tensor) -> torch.Tensor:
    """The candidate: the mean and std of the voxels above an Otsu threshold (the best
    two-class split of a 128-bin histogram), the background raised to the foreground's 0.5th
    percentile first (as nnU-Net normalises MRI over its non-zero mask). Every step is
    unchanged by an affine change of intensities, so it can start from the engine's
    whole-volume z-score."""
    flat = volume.flatten().double()
    hist = torch.histc(flat, 128, float(flat.min()), float(flat.max()))
    edges = torch.linspace(float(flat.min()), float(flat.max()), 129, dtype=torch.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    below, mass = hist.cumsum(0), (hist * centres).cumsum(0)
    above = hist.sum() - below
    gap = mass / below.clamp(min=1) - (mass[-1] - mass) / above.clamp(min=1)
    foreground = flat[flat > edges[int((below * above * gap**2).argmax()) + 1]]
    floor = torch.quantile(foreground, 0.005)
    foreground = foreground.clamp(min=floor)
    return ((volume.clamp(min=float(floor)) - foreground.mean()) / foreground.std()).float()


def folds(y: torch.Tensor, seed: int, k: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = y.numpy()
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in (0, 1)]
    return [np.sort(np.concatenate([idx[f::k] for idx in per_class])) for f in range(k)]


def train_fold(x, y, train, val, steps: int, augment: str, seed: int) -> tuple[np.ndarray, list]:
    from training.models import build_model
    from training.transforms import build_augmentation

    torch.manual_seed(seed)
    model = build_model("cnn3d_small", 2, 1)
    opt = torch.optim.AdamW(model.parameters(), 3e-3, weight_decay=0.05)
    warm = max(1, steps // 10)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    aug = build_augmentation(augment, 3, 1, seed) if augment != "none" else None
    rng, losses = np.random.default_rng(seed), []
    while len(losses) < steps:
        order = rng.permutation(train)
        for start in range(0, len(order) - 1, 8):
            idx = order[start : start + 8]
            batch = x[idx] if aug is None else aug(x[idx])
            model.train()
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(batch).squeeze(1), y[idx])
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
    model.eval()
    with torch.no_grad():
        return torch.sigmoid(model(x[val]).squeeze(1)).numpy(), losses


def score(x, y, args, augment: str) -> dict:
    from sklearn.metrics import roc_auc_score

    accs, aucs, first, last = [], [], [], []
    for split in range(args.splits):
        correct, auc = 0, []
        for f, val in enumerate(folds(y, split)):
            train = np.setdiff1d(np.arange(len(y)), val)
            probs, losses = train_fold(x, y, train, val, args.steps, augment, 10 * split + f)
            truth = y[val].numpy()
            correct += int(((probs > 0.5) == truth).sum())
            auc.append(roc_auc_score(truth, probs))
            first.append(statistics.fmean(losses[:20]))
            last.append(statistics.fmean(losses[-20:]))
        accs.append(correct / len(y))
        aucs.append(statistics.fmean(auc))
    return {
        "accuracy": _mean_std(accs),
        "auc": _mean_std(aucs),
        "loss_first_20_steps": round(statistics.fmean(first), 3),
        "loss_last_20_steps": round(statistics.fmean(last), 3),
    }


def hand_features(raw: list[np.ndarray], y: torch.Tensor, splits: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rows = []
    for volume in raw:
        tissue = volume[volume > -400]
        brightest = np.sort(tissue)[-200:].mean()
        rows.append([(tissue > t).sum() for t in (90, 110, 130, 150)] + [brightest])
    features = StandardScaler().fit_transform(np.array(rows, dtype=float))
    labels = y.numpy().astype(int)
    accs = []
    for split in range(splits):
        correct = 0
        for val in folds(y, split):
            train = np.setdiff1d(np.arange(len(labels)), val)
            model = LogisticRegression(max_iter=1000).fit(features[train], labels[train])
            correct += int((model.predict(features[val]) == labels[val]).sum())
        accs.append(correct / len(labels))
    return {"accuracy": _mean_std(accs)}


def _mean_std(values: list[float]) -> dict:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 3), "std": round(std, 3), "n": len(values)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=160, help="optimizer steps per fold")
    ap.add_argument("--splits", type=int, default=3, help="random 3-fold splits")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        x, y, raw = load_example(Path(tmp))
    report: dict = {
        "protocol": vars(args),
        "hand_features_logistic": hand_features(raw, y, args.splits),
    }
    inputs_by_name = {
        "whole_volume_zscore": x,
        "foreground_zscore": torch.stack([foreground_zscore(v) for v in x]),
    }
    for name, inputs in inputs_by_name.items():
        for augment in ("none", "light"):
            report[f"{name}/{augment}"] = score(inputs, y, args, augment)
            print(json.dumps({f"{name}/{augment}": report[f"{name}/{augment}"]}), file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
