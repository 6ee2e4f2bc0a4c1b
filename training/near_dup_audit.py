"""The leakage audit's near-duplicate part, and near-duplicate clusters as split groups.

Exact copies are found by content hash (training.cross_validation.audit_leakage); resized,
re-encoded or slightly noisy copies only by their perceptual hashes (medview.io.phash,
stored at import). A validation item whose near-twin is in the same fold's training part
scores the model on something it has practically seen, which inflates cross-validated metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medview.core.project import Item, Project
from medview.io.phash import near_duplicate_groups
from training.cross_validation import SplitPlan


def clusters(project: Project, items: Sequence[Item]) -> list[list[int]]:
    """Near-duplicate groups among ``items``, as positions into ``items``."""
    stored = project.phashes()
    position = {it.id: k for k, it in enumerate(items)}
    hashes = [(it.id, stored[it.id]) for it in items if it.id in stored]
    return [[position[i] for i in g] for g in near_duplicate_groups(hashes)]


def groups_with_clusters(
    groups: Sequence[str | None], found: Sequence[Sequence[int]]
) -> list[str | None]:
    """Split groups where every near-duplicate cluster is inside one group: clusters and
    existing groups (patients) that share an item are merged, so neither rule is broken."""
    parent = list(range(len(groups)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    first_of: dict[str, int] = {}
    for k, g in enumerate(groups):
        if g not in (None, ""):
            union(k, first_of.setdefault(str(g), k))
    for cluster in found:
        for k in cluster[1:]:
            union(cluster[0], k)
    members: dict[int, list[int]] = {}
    for k in range(len(groups)):
        members.setdefault(find(k), []).append(k)
    out: list[str | None] = list(groups)
    for root, ks in members.items():
        named = {groups[k] for k in ks}
        if len(ks) == 1 or (len(named) == 1 and None not in named and "" not in named):
            continue  # a lone item, or a cluster already inside one group
        name = next((str(groups[k]) for k in ks if groups[k] not in (None, "")), None)
        label = f"{name}+near-duplicates" if name else f"near-duplicates-{root}"
        for k in ks:
            out[k] = label
    return out


def audit(
    plan: SplitPlan, found: Sequence[Sequence[int]], item_ids: Sequence[int]
) -> dict[str, Any]:
    """Pairs of near-duplicates (exact copies included) split across a fold, or between the
    training items and the test split."""
    cluster_of = {k: c for c, members in enumerate(found) for k in members}
    across: set[tuple[int, int]] = set()
    examples: list[list[int]] = []
    trained: set[int] = set()
    for fold in plan.folds:
        trained.update(fold.train)
        train_by_cluster: dict[int, list[int]] = {}
        for k in fold.train:
            if k in cluster_of:
                train_by_cluster.setdefault(cluster_of[k], []).append(k)
        for k in fold.val:
            for j in train_by_cluster.get(cluster_of.get(k, -1), []):
                pair = (min(k, j), max(k, j))
                if pair not in across and len(examples) < 10:
                    examples.append([int(item_ids[k]), int(item_ids[j])])
                across.add(pair)
    pool = trained | {k for f in plan.folds for k in f.val}
    test_pairs = {
        (k, j)
        for k in plan.test
        for j in (found[cluster_of[k]] if k in cluster_of else [])
        if j in pool
    }
    return {
        "near_duplicate_groups": len(found),
        "near_duplicate_pairs_across_folds": len(across),
        "near_duplicate_pairs_train_test": len(test_pairs),
        "near_duplicate_examples": examples,
    }


def warnings(result: dict[str, Any], grouped: bool) -> list[str]:
    across = result.get("near_duplicate_pairs_across_folds", 0)
    test = result.get("near_duplicate_pairs_train_test", 0)
    if not (across or test):
        return []
    advice = "" if grouped else "; turn on 'near-duplicates as split groups' or remove the copies"
    return [
        f"near-duplicate images (resized, re-encoded or noisy copies) are on both sides of a "
        f"split: {across} pair(s) across folds, {test} between training and test (item ids "
        f"{result.get('near_duplicate_examples', [])[:3]}){advice}"
    ]
