"""Fold planning (stratified, group-aware, test split, hold-out) and the leakage audit."""

from __future__ import annotations

from collections import Counter

import pytest

from training.cross_validation import Fold, SplitError, SplitPlan, audit_leakage, plan_splits


def _plan(labels, groups=None, splits=None, **kw):
    n = len(labels)
    return plan_splits(
        labels, groups or [None] * n, splits or [None] * n, list(range(100, 100 + n)), **kw
    )


def test_stratified_folds_partition_the_pool():
    labels = [0] * 12 + [1] * 8
    plan = _plan(labels, n_folds=4, seed=0)
    val = [i for f in plan.folds for i in f.val]
    assert sorted(val) == list(range(20))  # every item validated exactly once
    for fold in plan.folds:
        assert not set(fold.train) & set(fold.val)
        counts = Counter(labels[i] for i in fold.val)
        assert counts[0] == 3 and counts[1] == 2  # class ratio kept


def test_groups_never_span_folds():
    labels = [k % 2 for k in range(40)]
    groups = [f"patient{k // 4}" for k in range(40)]  # 4 items per patient
    plan = _plan(labels, groups, n_folds=5, seed=3)
    assert plan.grouped
    fold_of_group: dict[str, set[int]] = {}
    for fold in plan.folds:
        for i in fold.val:
            fold_of_group.setdefault(groups[i], set()).add(fold.number)
        assert not {groups[i] for i in fold.train} & {groups[i] for i in fold.val}
    assert all(len(f) == 1 for f in fold_of_group.values())
    audit = audit_leakage(plan, [str(i) for i in range(40)], groups, list(range(40)))
    assert audit["groups_across_folds"] == 0


def test_test_split_items_are_never_trained_on():
    labels = [k % 2 for k in range(30)]
    splits = ["test" if k >= 24 else None for k in range(30)]
    plan = _plan(labels, splits=splits, n_folds=3, seed=0)
    assert plan.test == list(range(24, 30))
    for fold in plan.folds:
        assert not set(plan.test) & (set(fold.train) | set(fold.val))


def test_plan_is_deterministic_for_fold_runs():
    labels = [k % 2 for k in range(20)]
    a = _plan(labels, n_folds=2, seed=7)
    b = _plan(labels, n_folds=2, seed=7)
    assert [f.val for f in a.folds] == [f.val for f in b.folds]


def test_holdout_split_fractions():
    labels = [k % 2 for k in range(100)]
    plan = _plan(labels, n_folds=5, seed=0, holdout=True)
    assert plan.mode == "holdout" and len(plan.folds) == 1
    fold = plan.folds[0]
    assert len(plan.test) == 15 and 12 <= len(fold.val) <= 14 and len(fold.train) >= 71
    assert not set(fold.train) & set(fold.val) and not set(plan.test) & set(fold.train)


def test_too_few_items_is_a_clear_error():
    with pytest.raises(SplitError, match="at least 5 labelled items per class"):
        _plan([0, 0, 0, 1, 1, 1], n_folds=5, seed=0)
    with pytest.raises(SplitError, match="two classes"):
        _plan([0] * 10, n_folds=2, seed=0)


def test_audit_reports_planted_duplicates_and_split_groups():
    # items 0 and 3 are identical files; item 5 (test) duplicates item 1 (train)
    hashes = ["h0", "h1", "h2", "h0", "h4", "h1"]
    groups = ["g1", None, "g1", None, None, None]
    plan = SplitPlan([Fold(1, [0, 1], [2, 3]), Fold(2, [2, 3], [0, 1])], [5, 4][:1], False, "kfold")
    audit = audit_leakage(plan, hashes, groups, [10, 11, 12, 13, 14, 15])
    assert audit["duplicate_items_across_folds"] == 2  # 3 validated vs 0 trained, and vice versa
    assert audit["duplicates_train_test"] == 1
    assert audit["groups_across_folds"] == 1
    assert [13, 10] in audit["duplicate_examples"]
