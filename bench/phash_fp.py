"""False-positive rate of the near-duplicate test (medview.io.phash) on unrelated images, and
its recall on planted copies. Prints one JSON line.

    python bench/phash_fp.py [--npz PATH]   (default: the shared PneumoniaMNIST subset)

Unrelated: 500 distinct generated images (smooth random fields with ellipses, 96 px) and
every image of the npz (3 166 for PneumoniaMNIST); every pair is compared. Copies: a resized,
a slightly noisy (sigma 5) and a JPEG (quality 70) copy of 100 images of each set.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np

from medview.core.image import Image
from medview.io import phash

DEFAULT_NPZ = Path(__file__).resolve().parents[2] / "shared/data/pneumoniamnist_balanced.npz"


def generated(seed: int, size: int = 96) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    img = gaussian_filter(rng.normal(0, 1, (size, size)), rng.uniform(2, 8))
    yy, xx = np.mgrid[:size, :size]
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(10, size - 10, 2)
        a, b = rng.uniform(5, 25, 2)
        img += rng.uniform(-2, 2) * (((yy - cy) / a) ** 2 + ((xx - cx) / b) ** 2 < 1)
    return ((img - img.min()) / (np.ptp(img) + 1e-9) * 255).astype(np.uint8)


def hash_of(array: np.ndarray) -> str:
    return phash.hash_image(Image(array[np.newaxis]))


def pair_stats(hashes: list[str]) -> dict[str, float]:
    ints = np.array([int(h, 16) for h in hashes], dtype=np.uint64)
    close = 0
    for i in range(len(ints) - 1):
        close += int((np.bitwise_count(ints[i + 1 :] ^ ints[i]) <= phash.MAX_DISTANCE).sum())
    pairs = len(ints) * (len(ints) - 1) // 2
    grouped = sum(len(g) for g in phash.near_duplicate_groups(enumerate(hashes)))
    return {
        "images": len(hashes),
        "pairs": pairs,
        "pairs_within_threshold": close,
        "pair_false_positive_rate": close / pairs,
        "items_in_a_group_fraction": grouped / len(hashes),
    }


def copy_recall(images: list[np.ndarray], rng: np.random.Generator) -> dict[str, float]:
    from PIL import Image as PILImage

    found = {"resized": 0, "noisy": 0, "jpeg70": 0}
    for a in images:
        h = hash_of(a)
        side = max(8, round(a.shape[0] * 0.7))
        copies = {
            "resized": np.asarray(PILImage.fromarray(a).resize((side, side))),
            "noisy": np.clip(a + rng.normal(0, 5, a.shape), 0, 255).astype(np.uint8),
        }
        buffer = io.BytesIO()
        PILImage.fromarray(a).save(buffer, "JPEG", quality=70)
        copies["jpeg70"] = np.asarray(PILImage.open(buffer))
        for name, c in copies.items():
            d = phash.distance(h, hash_of(c))
            found[name] += int(d is not None and d <= phash.MAX_DISTANCE)
    return {k: v / len(images) for k, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--npz", type=Path, default=DEFAULT_NPZ)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    gen = [generated(s) for s in range(500)]
    result: dict[str, object] = {"max_distance": phash.MAX_DISTANCE}
    result["generated"] = pair_stats([hash_of(a) for a in gen])
    result["generated_copy_recall"] = copy_recall(gen[:100], rng)
    if args.npz.is_file():
        with np.load(args.npz) as archive:
            keys = [k for k in archive.files if k.endswith("_images")]
            images = list(np.concatenate([archive[k] for k in keys]))
        result["npz"] = {"file": args.npz.name, **pair_stats([hash_of(a) for a in images])}
        result["npz_copy_recall"] = copy_recall(images[:100], rng)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
