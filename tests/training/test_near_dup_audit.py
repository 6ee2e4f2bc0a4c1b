"""The leakage audit finds planted near-duplicates across folds; the option keeps them together."""

from __future__ import annotations

import hashlib
import json

import numpy as np
from projects import make_project

from medview.io.near_duplicates import hash_items
from training.cross_validation import plan_splits
from training.near_dup_audit import audit, clusters, groups_with_clusters


def _plant_copies(project, tmp_path, n: int) -> list[tuple[int, int]]:
    """A slightly noisy, re-saved copy of the first ``n`` items, with the same label."""
    from PIL import Image as PILImage

    rng = np.random.default_rng(9)
    pairs = []
    for item in project.items()[:n]:
        pixels = np.asarray(PILImage.open(item.path), dtype=np.float64)
        noisy = np.clip(pixels + rng.normal(0, 2, pixels.shape), 0, 255).astype(np.uint8)
        path = tmp_path / "data" / f"copy-{item.name}"
        PILImage.fromarray(noisy).save(path)
        copy_id = project.add_item(
            name=path.name, kind="2d", reader="raster", paths=[path], shape=item.shape,
            spacing=(1.0, 1.0, 1.0), content_hash=hashlib.sha1(path.read_bytes()).hexdigest(),
            label=item.label,
        )  # fmt: skip
        pairs.append((item.id, copy_id))
    assert not hash_items(project, project.items())
    return pairs


def test_planted_near_duplicates_are_counted_and_can_share_a_fold(tmp_path):
    project = make_project(tmp_path, 16, kind="2d", size=32)
    pairs = _plant_copies(project, tmp_path, 6)
    items = project.items()
    found = clusters(project, items)
    ids = [it.id for it in items]
    assert sorted(sorted(ids[k] for k in c) for c in found) == sorted(sorted(p) for p in pairs)
    labels = [0 if it.label == "WT" else 1 for it in items]
    plan = plan_splits(labels, [None] * len(items), [None] * len(items), ids, n_folds=2, seed=1)
    result = audit(plan, found, ids)
    # With 2 folds a pair is split in about half the folds' plans: this seed splits some.
    assert result["near_duplicate_pairs_across_folds"] > 0
    assert result["near_duplicate_groups"] == 6
    grouped = groups_with_clusters([None] * len(items), found)
    plan = plan_splits(labels, grouped, [None] * len(items), ids, n_folds=2, seed=1)
    assert audit(plan, found, ids)["near_duplicate_pairs_across_folds"] == 0
    project.close()


def test_groups_with_clusters_merges_patients_and_clusters():
    merged = groups_with_clusters(["p1", "p1", "p2", None, None, None], [[1, 2], [3, 4]])
    assert merged[0] == merged[1] == merged[2]  # p1 and p2 joined through a cluster
    assert merged[3] == merged[4] and merged[3] != merged[0]
    assert merged[5] is None


def test_run_reports_near_duplicates_in_metrics(tmp_path):
    from training.api import run_training
    from training.config import TrainConfig

    project = make_project(tmp_path, 12, kind="2d", size=16)
    _plant_copies(project, tmp_path, 6)
    folder = project.folder
    project.close()
    cfg = TrainConfig(
        project=str(folder), model="cnn_small", size=16, folds=2, epochs=1, batch_size=4,
        augment="none", run_id="nd", cache=False, predict_unlabelled=False, seed=1,
    )  # fmt: skip
    assert run_training(cfg).status == "finished"
    metrics = json.loads((folder / "runs" / "nd" / "metrics.json").read_text())
    assert metrics["leakage"]["near_duplicate_pairs_across_folds"] > 0
    assert any("near-duplicate images" in w for w in metrics["warnings"])
    cfg.run_id, cfg.near_duplicate_groups = "nd2", True
    assert run_training(cfg).status == "finished"
    metrics = json.loads((folder / "runs" / "nd2" / "metrics.json").read_text())
    assert metrics["leakage"]["near_duplicate_pairs_across_folds"] == 0
    assert not any("near-duplicate images" in w for w in metrics["warnings"])


def test_plan_check_warns_about_near_duplicates_and_conflicts(tmp_path):
    from training.plan import check_plan

    project = make_project(tmp_path, 12, kind="2d", size=32)
    config = {"model": "cnn_small", "folds": 2}
    assert not any("near-duplicate" in w for w in check_plan(project, config).warnings)
    _plant_copies(project, tmp_path, 3)
    warnings = check_plan(project, config).warnings
    assert any("group(s) of near-duplicate images" in w for w in warnings), warnings
    first = project.items()[0]
    project.add_item(
        name="conflict", kind="2d", reader="raster", paths=first.paths, shape=first.shape,
        spacing=(1.0, 1.0, 1.0), content_hash=first.content_hash,
        label="MUT" if first.label == "WT" else "WT",
    )  # fmt: skip
    warnings = check_plan(project, config).warnings
    assert any("1 image(s) are labelled with two different classes" in w for w in warnings)
    grouped = check_plan(project, {**config, "near_duplicate_groups": True}).warnings
    assert not any("group(s) of near-duplicate images" in w for w in grouped)
    project.close()
