"""The plan check the GUI runs before it starts a run: what would stop it, said plainly.

It mirrors the engine's own checks (TrainConfig.validate, choose_kind, the fold planner's rules
in training/recipe/split_check.py) but runs in the window's process, so it must stay cheap: no
torch,
no scikit-learn, only the project's item table and training.recipe.config. Each check is a small
function; the first that finds nothing to train on ends the plan.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from medview.core.errors import MedviewError
from medview.core.project import Project
from training.recipe.config import TrainConfig, model_kind, slices_in_words
from training.recipe.imbalance import imbalance_note
from training.recipe.model_specs import fine_tuning_warnings
from training.recipe.split_check import Pool, holdout_problems, kfold_problems
from training.recipe.weights_fit import weights_problem


@dataclass
class PlanCheck:
    kind: str | None  # "2d" | "3d": what the run would train on
    counts: dict[str, int] = field(default_factory=dict)  # labelled items per class (that kind)
    errors: list[str] = field(default_factory=list)  # the run cannot start
    warnings: list[str] = field(default_factory=list)  # it can, but the user should know
    kinds: dict[str, int] = field(default_factory=dict)  # labelled items per kind
    slices: str | None = None  # slice mode: a 2D model on these slices of the 3D volumes
    # What Auto would choose that the user did not set: "setting = value  (why)" lines
    auto_chosen: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def mixed(self) -> bool:
        return len([k for k, n in self.kinds.items() if n]) > 1

    def text(self, brief: bool = False) -> str:
        """The plan in lines; ``brief`` (the window's panel) says how many settings Auto
        chooses in one line instead of listing them (:meth:`auto_text` has the list)."""
        lines = [f"✗ {e}" for e in self.errors] + [f"⚠ {w}" for w in self.warnings]
        if self.auto_chosen and brief:
            lines.append(f"Auto chooses {len(self.auto_chosen)} settings you did not set")
        elif self.auto_chosen:
            lines.append(self.auto_text())
        if self.ok:
            counts = ", ".join(f"{c} {n}" for c, n in self.counts.items())
            what = None
            if self.slices:
                what = f"{self.kind} volumes, 2D on {slices_in_words(self.slices)} of each"
            lines.insert(
                0,
                f"✓ ready: {sum(self.counts.values())} labelled {what or f'{self.kind} items'}"
                f" ({counts})",
            )
        return "\n".join(lines)

    def auto_text(self) -> str:
        """Every setting Auto chooses that the user did not, one line each, with why."""
        return "\n".join(
            ["Auto chooses (not set by you):"] + [f"  · {x}" for x in self.auto_chosen]
        )


@dataclass
class _Inputs:
    """What every check reads: the validated config and the labelled items of the run's kind."""

    project: Project
    cfg: TrainConfig
    items: list[Any]
    names: list[str]
    counts: Counter[str]

    @property
    def present(self) -> list[str]:
        return [c for c in self.names if self.counts.get(c)]


def check_plan(project: Project, config: dict[str, Any], kind: str | None = None) -> PlanCheck:
    """``kind`` forces 2D or 3D when the project has both (the panel asks the user)."""
    try:
        cfg = _config(project, config)
    except MedviewError as exc:
        return PlanCheck(None, errors=[str(exc)])
    labelled = project.items(labelled=True)
    kinds = Counter(it.kind for it in labelled)
    check = PlanCheck(_run_kind(cfg, kinds, kind, len(labelled)), kinds=dict(kinds))
    check.slices = cfg.slices
    items = [it for it in labelled if it.kind == check.kind]
    counts = Counter(str(it.label) for it in items)
    inputs = _Inputs(project, cfg, items, project.class_names(), counts)
    check.counts = {c: inputs.counts.get(c, 0) for c in inputs.names}
    # The first checks stop the plan (nothing else can be said); the rest all report.
    for gate in (_no_labels, _wrong_kind, _one_class):
        if gate(inputs, check, len(labelled)):
            return check
    steps = (_missing_classes, _test_only_classes, _split_feasible, _run_name_free, _weights_fit)
    for step in steps:
        step(inputs, check)
    check.warnings.extend(duplicate_warnings(project, items, cfg.near_duplicate_groups))
    check.warnings.extend(fine_tuning_warnings(cfg.model, cfg.train_layers, cfg.pretrained))
    if cfg.slices:
        from training.recipe.slices import slice_warnings

        check.warnings.extend(slice_warnings(project.key_slices(), items, cfg.slices))
    _small_and_imbalanced(inputs, check)
    _auto_choices(inputs, check)
    return check


def _config(project: Project, config: dict[str, Any]) -> TrainConfig:
    cfg_data = {k: v for k, v in config.items() if k != "project"}
    cfg = TrainConfig.from_dict({"project": str(project.folder), **cfg_data})
    cfg.validate()
    return cfg


def _run_kind(cfg: TrainConfig, kinds: Counter[str], forced: str | None, n: int) -> str | None:
    if cfg.slices:
        return "3d"  # slice mode: a 2D model on the slices of the volumes
    if cfg.model:
        return model_kind(cfg.model)
    if cfg.kind:
        return cfg.kind
    if forced is None and kinds:
        return "3d" if kinds["3d"] * 2 >= n else "2d"
    return forced


def _no_labels(inputs: _Inputs, check: PlanCheck, n_labelled: int) -> bool:
    if n_labelled:
        return False
    check.errors.append(
        "No labelled items yet: give each image a class (keys 1–9) before training."
    )
    return True


def _wrong_kind(inputs: _Inputs, check: PlanCheck, n_labelled: int) -> bool:
    kind, other = check.kind, n_labelled - len(inputs.items)
    mine, theirs = (kind or "?").upper(), "2D" if kind == "3d" else "3D"
    if not inputs.items:
        model = inputs.cfg.model or "this model"
        check.errors.append(
            f"{model} trains on {mine} items, but every labelled item is {theirs}: "
            f"pick a {theirs} preset."
        )
        return True
    if other:
        check.warnings.append(
            f"The project mixes 2D and 3D items: this run uses the {len(inputs.items)} labelled "
            f"{mine} items and leaves out {other} of the other kind."
        )
    return False


def _one_class(inputs: _Inputs, check: PlanCheck, n_labelled: int) -> bool:
    if len(inputs.present) >= 2:
        return False
    check.errors.append(
        f"Training needs labelled {(check.kind or '?').upper()} items of at least two classes "
        f"(found only: {', '.join(inputs.present) or 'none'})."
    )
    return True


def _missing_classes(inputs: _Inputs, check: PlanCheck) -> None:
    missing = [c for c in inputs.names if not inputs.counts.get(c)]
    if missing:
        check.warnings.append(f"No labelled items for {', '.join(missing)}: left out of this run.")


def _pool(inputs: _Inputs) -> Pool:
    """The items folds are made of (the test split's stay out), as the fold planner sees them."""
    pool = [it for it in inputs.items if it.split != "test"]
    return Pool(
        labels=[str(it.label) for it in pool],
        groups=[it.group or f"\0item-{it.id}" for it in pool],
        grouped=any(it.group for it in pool),
        marked_test=len(pool) < len(inputs.items),
        marked_val=any(it.split == "val" for it in pool),
    )


def _test_only_classes(inputs: _Inputs, check: PlanCheck) -> None:
    trained = set(_pool(inputs).labels)
    only_test = [c for c in inputs.present if c not in trained]
    if only_test:
        check.errors.append(
            f"Every labelled {', '.join(only_test)} item is in the test split: the model would "
            "never see that class. Move some to train/val (split column) or unlabel them."
        )


def _split_feasible(inputs: _Inputs, check: PlanCheck) -> None:
    """Folds or the hold-out split can be made (training/recipe/split_check.py mirrors the
    planner)."""
    pool = _pool(inputs)
    if len(set(pool.labels)) < 2:
        return  # _test_only_classes said why
    cfg = inputs.cfg
    if not cfg.holdout:
        check.errors.extend(kfold_problems(pool, cfg.folds))
        return
    found = holdout_problems(pool, cfg.holdout_fractions)
    check.errors.extend(found.errors)
    check.warnings.extend(found.warnings)


def _run_name_free(inputs: _Inputs, check: PlanCheck) -> None:
    run_id = inputs.cfg.run_id
    if run_id and (inputs.project.runs_dir / run_id).exists():
        check.errors.append(f"A run named {run_id!r} exists already: choose another run name.")


def _weights_fit(inputs: _Inputs, check: PlanCheck) -> None:
    """A weights file made for another architecture: the engine would refuse it once the run
    has started (training/recipe/weights_fit.py reads only the file's tensor names)."""
    problem = weights_problem(inputs.cfg.model, inputs.cfg.pretrained)
    if problem:
        check.errors.append(problem)


def _small_and_imbalanced(inputs: _Inputs, check: PlanCheck) -> None:
    smallest = min(inputs.counts[c] for c in inputs.present)
    if check.ok and smallest < 10:
        check.warnings.append(
            f"Only {smallest} labelled items in the smallest class: expect noisy metrics."
        )
    note = imbalance_note({c: inputs.counts[c] for c in inputs.present}, inputs.cfg)
    if note:
        check.warnings.append(note)


def _auto_choices(inputs: _Inputs, check: PlanCheck) -> None:
    """Every setting Auto would choose that the user left unset, with why (the same rules the
    run applies, training/recipe/auto.py); the batch size and the epochs follow at the start,
    from the device's measured speed."""
    cfg = inputs.cfg
    if not cfg.auto:
        return
    from training.recipe.auto import auto_settings, profile_items

    profile = profile_items(
        inputs.items, inputs.present, "slices" if cfg.slices else check.kind or "2d"
    )
    device = cfg.device if cfg.device in ("cuda", "mps") else "cpu"
    check.auto_chosen = auto_settings(cfg, profile, device).lines()
    if cfg.batch_size is None or cfg.epochs is None:
        check.auto_chosen.append("batch size and epochs: measured on the device when it starts")


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
