"""What Auto chooses once the model and input are known, before the run is created: the batch
size (from memory, data size and device type), the epochs (from the effort's work), then the
run's time estimate (from warm-up batches: shown, never changing the plan)."""

from __future__ import annotations

import dataclasses
from typing import Any

from training.engine.batch_size import BatchChoice
from training.engine.run_context import RunInputs
from training.recipe.config import TrainConfig
from training.recipe.slices import per_slice_sizes

Sizes = tuple[int, int, int, int]  # (folds, training, validation, test items) per fold


def split_sizes(inputs: RunInputs) -> Sizes:
    """(folds, training, validation, test items) per fold as the fold planner will make
    them (from the item counts; the exact folds come after loading)."""
    cfg = inputs.cfg
    test = sum(1 for it in inputs.items if it.split == "test")
    pool = len(inputs.items) - test
    if cfg.holdout:
        if not test:
            test = round(pool * cfg.holdout_fractions[0])
            pool -= test
        # items marked val are the hold-out's validation part (training.engine.cross_validation)
        marked_val = sum(1 for it in inputs.items if it.split == "val")
        val = marked_val or max(1, round(pool * cfg.holdout_fractions[1]))
        return 1, pool - val, val, test
    val = max(1, round(pool / cfg.folds))
    return (1 if cfg.fold else cfg.folds), pool - val, val, test


def epoch_share(inputs: RunInputs) -> float:
    """The share of the training items one epoch draws (``training.engine.data.epoch_size``: all of
    them, or with ``--sampler undersample`` the smallest class times the number of classes),
    from the labels of the items outside the test split, as the folds are not made yet."""
    import torch

    from training.engine.data import epoch_size

    labels = [
        inputs.classes.index(it.label)
        for it in inputs.items
        if it.split != "test" and it.label is not None
    ]
    if not labels:
        return 1.0
    return epoch_size(torch.tensor(labels), inputs.cfg.sampler) / len(labels)


def finish_auto(inputs: RunInputs) -> tuple[TrainConfig, dict[str, Any], dict[str, Any]]:
    """The config with every setting decided, the time estimate, and what config.json
    records of the batch-size choice and the estimate. The plan depends on the project, the
    device type and the effort only; the measured speed makes the estimate, never the plan."""
    from training.engine.run_setup import warmup_data
    from training.engine.timing import estimate_run

    shapes = [it.shape for it in inputs.items]  # slice mode counts slices, not volumes
    folds, n_train, n_val, n_test = per_slice_sizes(split_sizes(inputs), shapes, inputs.cfg.slices)
    # An undersampled epoch is shorter: the batch cap, the epochs and the estimate count the
    # items an epoch draws, not the training items.
    drawn = max(1, round(n_train * epoch_share(inputs)))
    sizes = (folds, drawn, n_val, n_test)
    data = warmup_data(inputs.prep.shape, len(inputs.classes))
    cfg, choice = _batch_size(inputs, data, drawn)
    cfg = _epochs(cfg, inputs, drawn).with_defaults()
    inputs.cfg = cfg  # the estimate trains at the chosen settings
    estimate = estimate_run(inputs, data, sizes, choice)
    extra = {"batch_choice": choice.to_json() if choice else None, "estimate": estimate}
    return cfg, estimate, extra


def _batch_size(
    inputs: RunInputs, data: Any, n_train: int
) -> tuple[TrainConfig, BatchChoice | None]:
    cfg, plan = inputs.cfg, inputs.auto_plan
    if cfg.batch_size is not None or plan is None:
        return cfg, None
    if cfg.fold is not None:
        # Separate --fold runs (cluster jobs) must agree to be merged: no timing probe.
        from training.engine.batch_size import data_cap
        # Separate --fold runs (cluster jobs) must agree to be merged: no probe of any kind.

        size = min(32, data_cap(n_train, inputs.kind))
        reason = "a --fold run: the data-set cap up to 32, no probe (fold runs must agree)"
        plan.choose("batch_size", size, reason)
        return dataclasses.replace(cfg, batch_size=size), None
    from training.engine.timing import choose_batch

    choice = choose_batch(inputs, data, n_train)
    plan.choose("batch_size", choice.batch_size, choice.reason)
    return dataclasses.replace(cfg, batch_size=choice.batch_size), choice


def _epochs(cfg: TrainConfig, inputs: RunInputs, n_train: int) -> TrainConfig:
    plan = inputs.auto_plan
    if not cfg.auto or plan is None:
        return cfg
    from training.recipe.auto import auto_epochs
    from training.recipe.model_costs import macs

    forward = macs(inputs.model_name, inputs.size) or 0
    auto_epochs(cfg, n_train, cfg.batch_size or 8, plan, cfg.warmup_epochs is not None, forward)
    keys = ("epochs", "warmup_epochs", "patience", "min_epochs")
    chosen = {k: plan.values[k] for k in keys if k in plan.values}
    return dataclasses.replace(cfg, **chosen)
