"""Can the folds or the hold-out split be made? The fold planner's rules, checked from counts.

training/cross_validation.py splits with scikit-learn: StratifiedKFold / StratifiedGroupKFold
for k folds, and for a hold-out ``train_test_split`` (stratified) or, when items carry groups
(patients), the first fold of a StratifiedGroupKFold with k = round(1 / fraction). Each of these
fails (or silently leaves a class out of a part) on too small a cohort. This module says so
before a run starts, one line per problem with what to change; the plan check (training/plan.py)
runs it in the window's process, so it needs no scikit-learn, only labels and groups.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Pool:
    """The labelled items outside the test split: a class and a group per item."""

    labels: list[str]
    groups: list[str]  # an item without a group is its own group
    grouped: bool  # any item carries a group (patient): groups never straddle a split
    marked_test: bool = False  # the user marked test items: no test cut is made
    marked_val: bool = False  # the user marked validation items: no validation cut

    def counts(self) -> Counter[str]:
        return Counter(self.labels)

    def groups_per_class(self) -> dict[str, int]:
        seen: dict[str, set[str]] = {}
        for label, group in zip(self.labels, self.groups, strict=True):
            seen.setdefault(label, set()).add(group)
        return {c: len(g) for c, g in seen.items()}


@dataclass
class SplitProblems:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def group_folds(fraction: float) -> int:
    """The k whose first group fold approximates ``fraction`` (cross_validation's rule)."""
    return max(2, round(1 / fraction))


def kfold_problems(pool: Pool, k: int) -> list[str]:
    """Stratified k-fold: k items per class; with groups, k groups overall and per class."""
    errors = []
    short = {c: n for c, n in sorted(pool.counts().items()) if n < k}
    if short:
        detail = ", ".join(f"{c} has {n}" for c, n in short.items())
        errors.append(
            f"{k}-fold cross-validation needs at least {k} labelled items per class outside "
            f"the test split ({detail}). Label more items, lower the folds, or use hold-out."
        )
    if not pool.grouped:
        return errors
    n_groups = len(set(pool.groups))
    if n_groups < k:
        errors.append(
            f"{k} folds need at least {k} groups / patients (found {n_groups}): items of one "
            f"patient always stay in the same fold. Lower the folds to {max(2, n_groups)} or "
            "less, or add patients."
        )
    few = {c: g for c, g in sorted(pool.groups_per_class().items()) if g < k <= n_groups}
    if few:
        detail = ", ".join(f"{c} in {g}" for c, g in few.items())
        errors.append(
            f"{k} patient-level folds need each class in at least {k} patients (found {detail}):"
            f" a fold would validate without that class. Lower the folds to "
            f"{max(2, min(few.values()))}, or add patients."
        )
    return errors


def holdout_problems(pool: Pool, fractions: tuple[float, float]) -> SplitProblems:
    """A test cut (unless test items are marked or TEST is 0), then a validation cut."""
    out = SplitProblems()
    test_frac, val_frac = fractions
    part = _Part.of(pool)
    if not pool.marked_test and test_frac > 0:
        cut = part.cut(test_frac, "test", "TEST")
        out.errors += cut.errors
        out.warnings += cut.warnings  # a test part without a class still trains and validates
        if cut.errors:
            return out  # the validation cut depends on what the test cut leaves
        part = cut.rest
    if not pool.marked_val:
        cut = part.cut(val_frac, "validation", "VAL")
        out.errors += cut.errors + cut.warnings  # validation picks the epoch and threshold
    return out


@dataclass
class _Cut:
    errors: list[str]
    warnings: list[str]  # a class expected to be missing from the cut part
    rest: _Part  # what the next cut splits (expected counts)


@dataclass
class _Part:
    """Items (and groups) per class of what is being cut, and whether groups exist."""

    counts: dict[str, int]
    groups: dict[str, int]  # groups holding the class
    n_groups: int
    grouped: bool
    mixed: bool  # some group holds items of two classes

    @classmethod
    def of(cls, pool: Pool) -> _Part:
        classes: dict[str, set[str]] = {}
        for label, group in zip(pool.labels, pool.groups, strict=True):
            classes.setdefault(group, set()).add(label)
        mixed = any(len(c) > 1 for c in classes.values())
        counts, groups = dict(pool.counts()), pool.groups_per_class()
        return cls(counts, groups, len(classes), pool.grouped, mixed)

    def cut(self, fraction: float, part: str, flag: str) -> _Cut:
        if self.grouped:
            return _group_cut(self, fraction, part, flag)
        return _item_cut(self, fraction, part, flag)


def _item_cut(whole: _Part, fraction: float, part: str, flag: str) -> _Cut:
    """train_test_split(stratify=...): 2+ items per class, a part at least as large as the
    number of classes, and each class's share rounding to at least one item."""
    counts = whole.counts
    n, n_classes = sum(counts.values()), len(counts)
    n_cut = math.ceil(fraction * n)
    errors, missing = [], []
    single = sorted(c for c, m in counts.items() if m < 2)
    if single:
        errors.append(
            f"A stratified {part} cut needs at least 2 items of each class ({', '.join(single)} "
            f"has 1): label more, or mark the {part} items yourself (split column)."
        )
    if n_cut < n_classes or n - n_cut < n_classes:
        errors.append(
            f"{flag} {fraction:g} of {n} items makes a {part} part of {n_cut}, but each of the "
            f"{n_classes} classes needs an item on both sides: set {flag} between "
            f"{_up(n_classes / n)} and {1 - n_classes / n:.2f}."
        )
    share = {c: m * n_cut / n for c, m in counts.items()}
    for c, expected in sorted(share.items()):
        if expected < 0.5 and c not in single:
            how = f"items × {flag} {fraction:g}"
            missing.append(_missing(part, c, counts[c], how, flag, _up(1 / counts[c])))
    rest = {c: m - round(share[c]) for c, m in counts.items()}
    return _Cut(errors, missing, _Part(rest, dict(rest), sum(rest.values()), False, False))


def _group_cut(whole: _Part, fraction: float, part: str, flag: str) -> _Cut:
    """The first fold of a StratifiedGroupKFold with k = round(1 / fraction): k groups, and
    about n_groups / k of them in the part."""
    k, n_groups, n_classes = group_folds(fraction), whole.n_groups, len(whole.counts)
    in_cut = round(n_groups / k)
    # Patients of one class each: a part needs a patient per class, on both sides of the cut.
    need = 1 if whole.mixed else n_classes
    lowest = _up(need / max(n_groups, 1))
    errors, missing = [], []
    if n_groups < k:
        errors.append(
            f"A patient-level {part} cut of {flag} {fraction:g} is one of {k} patient folds: it "
            f"needs at least {k} patients / groups (found {n_groups}). Raise {flag} to at least "
            f"{lowest}, use k-fold cross-validation, or add patients."
        )
    elif in_cut < need or n_groups - in_cut < need:
        errors.append(
            f"A patient-level {part} cut of {flag} {fraction:g} takes about {in_cut} of "
            f"{n_groups} patients, each of one class: {n_classes} classes need {need} on each "
            f"side. Set {flag} between {lowest} and {_up(1 - need / n_groups)}, use k-fold, "
            "or add patients."
        )
    for c, g in sorted(whole.groups.items()):
        if g / k < 0.5 and not errors:
            missing.append(_missing(part, c, g, f"patients / {k} folds", flag, _up(1 / g)))
    rest = {c: g - round(g / k) for c, g in whole.groups.items()}
    rest_items = {c: m - round(m / k) for c, m in whole.counts.items()}
    return _Cut(errors, missing, _Part(rest_items, rest, n_groups - in_cut, True, whole.mixed))


def _missing(part: str, cls: str, n: int, how: str, flag: str, fix: str) -> str:
    return (
        f"The {part} part would hold no {cls} ({n} {how} rounds to none): raise {flag} to "
        f"at least {fix}, or label more {cls}."
    )


def _up(x: float) -> str:
    """A fraction rounded up to two decimals (what to type)."""
    return f"{min(0.89, math.ceil(x * 100 - 1e-9) / 100):.2f}"
