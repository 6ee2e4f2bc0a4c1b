"""The plan check refuses every split the fold planner cannot make, before a run starts, with one
line saying why and what to change; the engine refuses the same splits cleanly (a SplitError,
never scikit-learn's ValueError)."""

from __future__ import annotations

import pytest
from projects import make_project

from training.cross_validation import SplitError, plan_splits
from training.plan import check_plan
from training.split_check import Pool, holdout_problems, kfold_problems

BASE = {"model": "cnn3d_small", "epochs": 1}


def _engine_split(project, **kw):
    items = project.items(labelled=True)
    names = project.class_names()
    return plan_splits(
        [names.index(it.label) for it in items],
        [it.group for it in items],
        [it.split for it in items],
        [it.id for it in items],
        n_folds=kw.pop("folds", 5),
        seed=42,
        **kw,
    )


def test_a_patient_level_holdout_on_a_small_cohort_is_refused_by_the_plan_check(tmp_path):
    project = make_project(tmp_path, n=24, groups=6)  # 6 patients, 3 per class
    plan = check_plan(project, {**BASE, "holdout": True})
    assert not plan.ok and "ready" not in plan.text()
    (error,) = plan.errors
    assert "7 patient folds" in error and "found 6" in error
    assert "Raise TEST to at least 0.34" in error  # 2 of 6 patients: one per class
    # The engine refuses it too, with its own one-line reason instead of sklearn's ValueError.
    with pytest.raises(SplitError, match="needs at least 7 patients"):
        _engine_split(project, holdout=True, holdout_fractions=(0.15, 0.15))


def test_following_the_plan_checks_advice_gives_a_split_the_engine_makes(tmp_path):
    project = make_project(tmp_path, n=24, groups=6)
    plan = check_plan(project, {**BASE, "holdout": True, "holdout_fractions": (0.34, 0.15)})
    (error,) = plan.errors  # the test cut fits now; the validation cut of the rest does not
    assert "validation cut of VAL 0.15" in error and "found 4" in error
    assert "Raise VAL to at least 0.50" in error
    fixed = (0.34, 0.5)
    assert check_plan(project, {**BASE, "holdout": True, "holdout_fractions": fixed}).ok
    split = _engine_split(project, holdout=True, holdout_fractions=fixed)
    items = project.items(labelled=True)
    fold = split.folds[0]
    for part in (fold.train, fold.val, split.test):  # every part has both classes ...
        assert {items[i].label for i in part} == {"WT", "MUT"}
    patients = [{items[i].group for i in part} for part in (fold.train, fold.val, split.test)]
    assert sum(map(len, patients)) == len(set().union(*patients)) == 6  # ... and no patient twice


def test_kfold_needs_k_items_per_class_and_k_patients_per_class(tmp_path):
    project = make_project(tmp_path, n=24, groups=6)  # each class in 3 patients
    plan = check_plan(project, {**BASE, "folds": 5})
    (error,) = plan.errors
    assert "each class in at least 5 patients" in error and "Lower the folds to 3" in error
    with pytest.raises(SplitError):  # the engine fails on it (a fold validates on one class)
        _engine_split(project, folds=5)
    assert check_plan(project, {**BASE, "folds": 3}).ok
    _engine_split(project, folds=3)
    plan = check_plan(project, {**BASE, "folds": 7})
    assert any("7 folds need at least 7 groups" in e for e in plan.errors)
    small = make_project(tmp_path / "s", n=8)
    plan = check_plan(small, {**BASE, "folds": 5})
    assert any("at least 5 labelled items per class" in e for e in plan.errors)


def test_a_holdout_fraction_that_leaves_a_class_out_of_validation_is_refused():
    labels = ["A"] * 60 + ["B"] * 3
    pool = Pool(labels=labels, groups=[str(i) for i in range(63)], grouped=False)
    found = holdout_problems(pool, (0.1, 0.1))
    assert any("test part would hold no B" in w for w in found.warnings)
    (error,) = found.errors
    assert "validation part would hold no B" in error and "raise VAL to at least 0.34" in error
    # The engine with these fractions: no B to validate on, refused in its own words.
    y = [0] * 60 + [1] * 3
    with pytest.raises(SplitError, match="validation part holds one class only"):
        plan_splits(y, [None] * 63, [None] * 63, list(range(63)), n_folds=5, seed=42,
                    holdout=True, holdout_fractions=(0.1, 0.1))  # fmt: skip
    assert not holdout_problems(pool, (0.34, 0.34)).errors


def test_tiny_parts_and_single_items_are_refused():
    pool = Pool(labels=["A", "A", "B", "B", "C"], groups=list("abcde"), grouped=False)
    found = holdout_problems(pool, (0.15, 0.15))
    assert any("needs at least 2 items of each class (C has 1)" in e for e in found.errors)
    assert any("each of the 3 classes needs an item on both sides" in e for e in found.errors)
    assert kfold_problems(pool, 2) == [
        "2-fold cross-validation needs at least 2 labelled items per class outside the test "
        "split (C has 1). Label more items, lower the folds, or use hold-out."
    ]


def test_marked_test_and_validation_items_are_not_cut_again():
    pool = Pool(
        labels=["A"] * 4 + ["B"] * 4,
        groups=list("abcdefgh"),
        grouped=True,  # 8 patients: too few for a 7-fold test cut plus a 7-fold val cut
        marked_test=True,
        marked_val=True,
    )
    assert holdout_problems(pool, (0.15, 0.15)).errors == []


def test_a_class_only_in_the_test_split_and_a_taken_run_name(tmp_path):
    project = make_project(tmp_path, n=12)
    for it in project.items(labelled=True):
        if it.label == "MUT":
            project.set_split([it.id], "test")
    plan = check_plan(project, BASE)
    assert any("Every labelled MUT item is in the test split" in e for e in plan.errors)
    other = make_project(tmp_path / "o", n=12)
    (other.runs_dir / "mine").mkdir(parents=True)
    plan = check_plan(other, {**BASE, "run_id": "mine", "folds": 2})
    assert plan.errors == ["A run named 'mine' exists already: choose another run name."]
