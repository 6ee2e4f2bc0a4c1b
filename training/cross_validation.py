"""Splitting labelled items into folds (or one hold-out split) and auditing them for leakage.

* Items whose split is ``test`` form the test set: never trained on, never used for early
  stopping; each fold's model predicts them and the test metrics are those of the ensemble.
* K-fold is stratified; when any item carries a group (patient), StratifiedGroupKFold keeps
  every group inside one fold. Items without a group count as their own group.
* The plan depends only on the labels, groups, item ids and the seed, so ``--fold i`` in
  separate processes (cluster jobs) gets exactly the folds of the full run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from medview.core.errors import MedviewError
from training.split_check import group_folds


class SplitError(MedviewError):
    """Too few items (per class) for the requested folds or split."""


@dataclass
class Fold:
    number: int  # 1-based
    train: list[int]  # positions into the item list
    val: list[int]


@dataclass
class SplitPlan:
    folds: list[Fold]
    test: list[int]
    grouped: bool
    mode: str  # "kfold" | "holdout"
    notes: list[str] = field(default_factory=list)

    def to_json(self, item_ids: Sequence[int]) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "grouped": self.grouped,
            "test": [int(item_ids[i]) for i in self.test],
            "folds": [
                {
                    "fold": f.number,
                    "train": [int(item_ids[i]) for i in f.train],
                    "val": [int(item_ids[i]) for i in f.val],
                }
                for f in self.folds
            ],
        }


def _groups_for(groups: Sequence[str | None], item_ids: Sequence[int]) -> np.ndarray:
    # An item without a group is its own group; prefix so it never collides with a real one.
    return np.array(
        [g if g not in (None, "") else f"\0item-{i}" for g, i in zip(groups, item_ids, strict=True)]
    )


def plan_splits(
    labels: Sequence[int],
    groups: Sequence[str | None],
    splits: Sequence[str | None],
    item_ids: Sequence[int],
    *,
    n_folds: int,
    seed: int,
    holdout: bool = False,
    holdout_fractions: tuple[float, float] = (0.15, 0.15),
) -> SplitPlan:
    """Plan the folds. ``labels`` are class indices, one per labelled item (same order)."""
    y = np.asarray(labels, dtype=int)
    n = len(y)
    test = [i for i in range(n) if splits[i] == "test"]
    pool = [i for i in range(n) if splits[i] != "test"]
    grouped = any(g not in (None, "") for g in groups)
    group_arr = _groups_for(groups, item_ids)
    counts = Counter(y[pool].tolist())
    if len(counts) < 2:
        raise SplitError(
            f"training needs labelled items of at least two classes outside the test split "
            f"(found {dict(counts) or 'none'})"
        )
    if holdout:
        return _plan_holdout(y, group_arr, splits, pool, test, seed, holdout_fractions, grouped)
    smallest = min(counts.values())
    if smallest < n_folds:
        raise SplitError(
            f"{n_folds}-fold cross-validation needs at least {n_folds} labelled items per class "
            f"(the smallest class has {smallest}); label more items or lower --folds"
        )
    folds = _kfold_folds(y, group_arr, pool, n_folds, seed, grouped)
    _require_two_val_classes(y, folds)
    return SplitPlan(folds, test, grouped, "kfold")


def _kfold_folds(
    y: np.ndarray,
    group_arr: np.ndarray,
    pool: list[int],
    n_folds: int,
    seed: int,
    grouped: bool,
) -> list[Fold]:
    """The pool's stratified k folds; with groups, each group inside one fold."""
    pool_arr = np.asarray(pool)
    if grouped:
        n_groups = len(set(group_arr[pool_arr].tolist()))
        if n_groups < n_folds:
            raise SplitError(f"{n_folds} folds need at least {n_folds} groups (found {n_groups})")
        splitter: Any = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        parts = splitter.split(np.zeros(len(pool)), y[pool_arr], group_arr[pool_arr])
    else:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        parts = splitter.split(np.zeros(len(pool)), y[pool_arr])
    return [
        Fold(k + 1, sorted(pool_arr[tr].tolist()), sorted(pool_arr[va].tolist()))
        for k, (tr, va) in enumerate(parts)
    ]


def _require_two_val_classes(y: np.ndarray, folds: list[Fold]) -> None:
    # A fold validated on one class has no AUC, threshold or early stopping.
    for fold in folds:
        if len(set(y[fold.val].tolist())) < 2:
            raise SplitError(
                f"fold {fold.number} has validation items of one class only; "
                "use fewer folds or more items"
            )


def _plan_holdout(
    y: np.ndarray,
    group_arr: np.ndarray,
    splits: Sequence[str | None],
    pool: list[int],
    test: list[int],
    seed: int,
    fractions: tuple[float, float],
    grouped: bool,
) -> SplitPlan:
    """One train/val(/test) split; items the user marked train/val keep their split."""
    notes: list[str] = []
    test_frac, val_frac = fractions
    if not test and test_frac > 0:
        pool, test = _stratified_cut(y, group_arr, pool, test_frac, seed, grouped)
        notes.append(f"hold-out: {len(test)} items set aside as test ({test_frac:.0%})")
    marked_val = [i for i in pool if splits[i] == "val"]
    if marked_val:
        train = [i for i in pool if splits[i] != "val"]
        val = marked_val
    else:
        train, val = _stratified_cut(y, group_arr, pool, val_frac, seed + 1, grouped)
    if len(set(y[train].tolist())) < 2 or not val:
        raise SplitError("the hold-out split left too few items per class; label more items")
    if len(set(y[val].tolist())) < 2:  # like a k-fold's fold: no AUC, threshold or early stop
        raise SplitError(
            "the hold-out's validation part holds one class only; raise the VAL of "
            "--holdout-fractions or label more items of the rare class"
        )
    return SplitPlan([Fold(1, sorted(train), sorted(val))], sorted(test), grouped, "holdout", notes)


def _stratified_cut(
    y: np.ndarray,
    group_arr: np.ndarray,
    pool: list[int],
    fraction: float,
    seed: int,
    grouped: bool,
) -> tuple[list[int], list[int]]:
    pool_arr = np.asarray(pool)
    if grouped:
        # Approximate the fraction with a group k-fold's first fold: groups stay whole.
        k = group_folds(fraction)
        n_groups = len(set(group_arr[pool_arr].tolist()))
        if n_groups < k:  # scikit-learn's "n_splits=7 greater than the number of groups"
            raise SplitError(
                f"a patient-level hold-out cut of {fraction:g} is one of {k} patient folds and "
                f"needs at least {k} patients / groups (found {n_groups}); raise "
                f"--holdout-fractions, use k-fold, or add patients"
            )
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        keep, cut = next(splitter.split(np.zeros(len(pool)), y[pool_arr], group_arr[pool_arr]))
        return sorted(pool_arr[keep].tolist()), sorted(pool_arr[cut].tolist())
    try:
        keep, cut = train_test_split(
            pool_arr, test_size=fraction, stratify=y[pool_arr], random_state=seed
        )
    except ValueError as exc:
        raise SplitError(f"cannot make a stratified hold-out split: {exc}") from exc
    return sorted(keep.tolist()), sorted(cut.tolist())


def expand_plan(plan: SplitPlan, volume_of: Sequence[int]) -> SplitPlan:
    """The volume-level ``plan`` as positions into the slice list (``volume_of[s]`` is the
    volume position of slice ``s``): every slice goes where its volume went, so no volume,
    and no patient, is ever on two sides of a split."""
    by_volume: dict[int, list[int]] = {}
    for s, v in enumerate(volume_of):
        by_volume.setdefault(int(v), []).append(s)

    def slices_of(volumes: Sequence[int]) -> list[int]:
        return sorted(s for v in volumes for s in by_volume.get(int(v), []))

    folds = [Fold(f.number, slices_of(f.train), slices_of(f.val)) for f in plan.folds]
    return SplitPlan(folds, slices_of(plan.test), plan.grouped, plan.mode, list(plan.notes))


def audit_leakage(
    plan: SplitPlan,
    hashes: Sequence[str],
    groups: Sequence[str | None],
    item_ids: Sequence[int],
    sources: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Count items whose identical content (or group) sits on both sides of a split.

    In slice mode the rows are slices: ``sources`` holds the volume (item id) of each, and
    ``volumes_across_folds`` counts volumes with slices on both sides of a split.

    ``duplicate_items_across_folds``: validation items whose content hash also occurs in the
    training part of the same fold (the model trains on an exact copy of what it is scored on).
    ``duplicates_train_test``: test items whose hash also occurs among the training items.
    ``groups_across_folds``: groups with members on both sides of a fold (or of train/test).
    """
    dup_val, split_groups, examples = _fold_leaks(plan, hashes, groups, item_ids)
    trained = {i for f in plan.folds for i in f.train}
    pool = trained | {i for f in plan.folds for i in f.val}
    pool_hashes = {hashes[i] for i in pool}
    pool_groups = {groups[i] for i in pool if groups[i] not in (None, "")}
    dup_test = {i for i in plan.test if hashes[i] in pool_hashes}
    split_groups.update(str(groups[i]) for i in plan.test if groups[i] in pool_groups)
    out = {
        "duplicate_items_across_folds": len(dup_val),
        "duplicates_train_test": len(dup_test),
        "groups_across_folds": len(split_groups),
        "duplicate_examples": examples,
        "split_groups": sorted(split_groups)[:20],
    }
    if sources is not None:
        out["volumes_across_folds"] = len(sources_across_folds(plan, sources))
    return out


def _fold_leaks(
    plan: SplitPlan,
    hashes: Sequence[str],
    groups: Sequence[str | None],
    item_ids: Sequence[int],
) -> tuple[set[int], set[str], list[list[int]]]:
    """Within each fold: validation items with a copy in training, groups on both sides,
    and up to 10 examples of copies (item ids)."""
    dup_val: set[int] = set()
    split_groups: set[str] = set()
    examples: list[list[int]] = []
    for fold in plan.folds:
        train_hashes: dict[str, list[int]] = defaultdict(list)
        for i in fold.train:
            train_hashes[hashes[i]].append(i)
        train_groups = {groups[i] for i in fold.train if groups[i] not in (None, "")}
        for i in fold.val:
            twins = train_hashes.get(hashes[i])
            if twins:
                dup_val.add(i)
                if len(examples) < 10:
                    examples.append([int(item_ids[i])] + [int(item_ids[j]) for j in twins])
            if groups[i] in train_groups:
                split_groups.add(str(groups[i]))
    return dup_val, split_groups, examples


def sources_across_folds(plan: SplitPlan, sources: Sequence[int]) -> set[int]:
    """The sources (volumes) whose rows (slices) are on both sides of a fold, or both in
    the pool and the test split."""
    across: set[int] = set()
    pool: set[int] = set()
    for fold in plan.folds:
        trained = {sources[i] for i in fold.train}
        across.update(sources[i] for i in fold.val if sources[i] in trained)
        pool |= trained | {sources[i] for i in fold.val}
    across.update(sources[i] for i in plan.test if sources[i] in pool)
    return {int(s) for s in across}


def audit_warnings(audit: dict[str, Any]) -> list[str]:
    """The audit's findings as sentences for the log and metrics.json ``warnings``."""
    out = []
    if audit["duplicate_items_across_folds"] or audit["duplicates_train_test"]:
        out.append(
            "identical items (same content hash) are on both sides of a split: "
            f"{audit['duplicate_items_across_folds']} validation and "
            f"{audit['duplicates_train_test']} test item(s) have a copy in training "
            f"(item ids {audit['duplicate_examples'][:3]}); give copies one group or remove them"
        )
    if audit.get("volumes_across_folds"):
        out.append(
            f"{audit['volumes_across_folds']} volume(s) have slices on both sides of a split"
        )
    if audit["groups_across_folds"]:
        out.append(f"{audit['groups_across_folds']} group(s) have items on both sides of a split")
    return out
