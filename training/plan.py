"""The plan check the GUI runs before it starts a run: what would stop it, said plainly.

It mirrors the engine's own checks (TrainConfig.validate, choose_kind, the fold planner's
"k items per class" and "k groups" rules) but runs in the window's process, so it must stay
cheap: no torch, no scikit-learn, only the project's item table and training.config.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from medview.core.errors import MedviewError
from medview.core.project import Project
from training.config import TrainConfig, model_kind


@dataclass
class PlanCheck:
    kind: str | None  # "2d" | "3d": what the run would train on
    counts: dict[str, int] = field(default_factory=dict)  # labelled items per class (that kind)
    errors: list[str] = field(default_factory=list)  # the run cannot start
    warnings: list[str] = field(default_factory=list)  # it can, but the user should know
    kinds: dict[str, int] = field(default_factory=dict)  # labelled items per kind

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def mixed(self) -> bool:
        return len([k for k, n in self.kinds.items() if n]) > 1

    def text(self) -> str:
        lines = [f"✗ {e}" for e in self.errors] + [f"⚠ {w}" for w in self.warnings]
        if self.ok:
            counts = ", ".join(f"{c} {n}" for c, n in self.counts.items())
            lines.insert(
                0, f"✓ ready: {sum(self.counts.values())} labelled {self.kind} items ({counts})"
            )
        return "\n".join(lines)


def check_plan(project: Project, config: dict[str, Any], kind: str | None = None) -> PlanCheck:
    """``kind`` forces 2D or 3D when the project has both (the panel asks the user)."""
    cfg_data = {k: v for k, v in config.items() if k != "project"}
    try:
        cfg = TrainConfig.from_dict({"project": str(project.folder), **cfg_data})
        cfg.validate()
    except MedviewError as exc:
        return PlanCheck(None, errors=[str(exc)])
    labelled = project.items(labelled=True)
    kinds = Counter(it.kind for it in labelled)
    if cfg.model:
        kind = model_kind(cfg.model)
    elif cfg.kind:
        kind = cfg.kind
    elif kind is None and kinds:
        kind = "3d" if kinds["3d"] * 2 >= len(labelled) else "2d"
    check = PlanCheck(kind, kinds=dict(kinds))
    if not labelled:
        check.errors.append(
            "No labelled items yet: give each image a class (keys 1–9) before training."
        )
        return check
    items = [it for it in labelled if it.kind == kind]
    names = project.class_names()
    counts = Counter(it.label for it in items)
    check.counts = {c: counts.get(c, 0) for c in names}
    other = len(labelled) - len(items)
    if not items:
        model = cfg.model or "this model"
        check.errors.append(
            f"{model} trains on {kind.upper() if kind else '?'} items, but every labelled item "
            f"is {'2D' if kind == '3d' else '3D'}: pick a {'2D' if kind == '3d' else '3D'} preset."
        )
        return check
    if other:
        check.warnings.append(
            f"The project mixes 2D and 3D items: this run uses the {len(items)} labelled "
            f"{(kind or '?').upper()} items and leaves out {other} of the other kind."
        )
    present = [c for c in names if counts.get(c)]
    if len(present) < 2:
        check.errors.append(
            f"Training needs labelled {(kind or '?').upper()} items of at least two classes "
            f"(found only: {', '.join(present) or 'none'})."
        )
        return check
    missing = [c for c in names if not counts.get(c)]
    if missing:
        check.warnings.append(f"No labelled items for {', '.join(missing)}: left out of this run.")
    pool = [it for it in items if it.split != "test"]
    pool_counts = Counter(it.label for it in pool)
    if not cfg.holdout:
        k = cfg.folds
        short = {c: pool_counts.get(c, 0) for c in present if pool_counts.get(c, 0) < k}
        if short:
            detail = ", ".join(f"{c} has {n}" for c, n in short.items())
            check.errors.append(
                f"{k}-fold cross-validation needs at least {k} labelled items per class outside "
                f"the test split ({detail}). Label more items, lower the folds, or use hold-out."
            )
        groups = {it.group or f"\0{it.id}" for it in pool}
        if any(it.group for it in pool) and len(groups) < k:
            check.errors.append(
                f"{k} folds need at least {k} groups / patients (found {len(groups)}): "
                "items of one patient always stay in the same fold."
            )
    elif min(pool_counts.get(c, 0) for c in present) < 3:
        check.errors.append(
            "A hold-out split needs at least 3 labelled items per class (train, validation, test)."
        )
    check.warnings.extend(duplicate_warnings(project, items, cfg.near_duplicate_groups))
    smallest = min(counts[c] for c in present)
    if check.ok and smallest < 10:
        check.warnings.append(
            f"Only {smallest} labelled items in the smallest class: expect noisy metrics."
        )
    return check


def duplicate_warnings(project: Project, items: list[Any], grouped: bool) -> list[str]:
    """Near-duplicates and label conflicts among the items a run would use (pHashes stored at
    import; pairwise over packed integers, ~0.1 s for 3 000 items)."""
    from medview.io.phash import near_duplicate_groups

    out = []
    stored = project.phashes()
    groups = near_duplicate_groups([(it.id, stored[it.id]) for it in items if it.id in stored])
    if groups and not grouped:
        n = sum(len(g) for g in groups)
        out.append(
            f"{len(groups)} group(s) of near-duplicate images ({n} items): copies in different "
            "folds inflate the scores. Keep them together ('near-duplicates as split groups') "
            "or review them (browser: Near duplicates)."
        )
    by_hash: dict[str, set[str]] = {}
    for it in items:
        by_hash.setdefault(it.content_hash, set()).add(it.label)
    conflicts = sum(1 for labels in by_hash.values() if len(labels) > 1)
    if conflicts:
        out.append(
            f"{conflicts} image(s) are labelled with two different classes (identical copies): "
            "resolve them in the browser (Label conflicts)."
        )
    return out
