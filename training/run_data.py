"""The run's data: every item decoded once (into memory, or into the streaming cache when
it does not fit: training/stream_data.py), then planned into folds (grouped by
patient and near-duplicate cluster) and audited for leakage."""

from __future__ import annotations

import time

from medview.core import messages as msg
from training import near_dup_audit
from training.cross_validation import SplitPlan, audit_leakage, plan_splits
from training.data import LoadedData, load_items
from training.loop import Cancelled
from training.run_context import RunContext, RunRecord, Splits
from training.run_report import audit_warnings
from training.stream_data import data_mode, load_stream


def load(ctx: RunContext) -> LoadedData:
    if ctx.cfg.slices:
        from training import slice_run

        return slice_run.load(ctx)  # type: ignore[return-value]  # x, y like LoadedData
    step = max(1, len(ctx.items) // 20)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:  # ~20 messages, not one per item
            ctx.emit(msg.Progress("loading", done, total))

    t0 = time.perf_counter()
    mode, why = data_mode(ctx.cfg.data, len(ctx.items), ctx.prep)
    loader = load_stream if mode == "stream" else load_items
    data = loader(
        ctx.project,
        ctx.items,
        ctx.prep,
        ctx.classes,
        use_cache=ctx.cfg.cache,
        progress=progress,
        should_cancel=ctx.should_cancel,
    )
    if ctx.should_cancel():
        data.close()
        raise Cancelled()
    for line in data.skipped:
        ctx.log(f"skipped {line}", "warning")
    for line in data.notes:
        ctx.log(line, "warning")
    where = "in memory" if data.store is None else "streamed from the disk cache"
    ctx.log(
        f"loaded {len(data.items)} items as {data.item_shape} tensors {where} ({why}) in "
        f"{time.perf_counter() - t0:.1f} s ({data.cache_hits} from cache)"
    )
    return data


def plan(ctx: RunContext, data: LoadedData, record: RunRecord) -> Splits:
    """The folds this process trains; the plan and the audit also go into ``record``'s header
    (metrics.json)."""
    if ctx.cfg.slices:  # folds on volumes and patients, then every slice follows its volume
        from training import slice_run

        return slice_run.plan(ctx, data, record)  # type: ignore[arg-type]
    ids = [it.id for it in data.items]
    groups = [it.group for it in data.items]
    near = near_dup_audit.clusters(ctx.project, data.items)
    if ctx.cfg.near_duplicate_groups and near:
        groups = near_dup_audit.groups_with_clusters(groups, near)
        ctx.log(f"{len(near)} near-duplicate cluster(s) kept together as split groups")
    split_plan = plan_splits(
        data.y.tolist(),
        groups,
        [it.split for it in data.items],
        ids,
        n_folds=ctx.cfg.folds,
        seed=ctx.cfg.seed,
        holdout=ctx.cfg.holdout,
        holdout_fractions=ctx.cfg.holdout_fractions,
    )
    record.audit = audit_leakage(split_plan, [it.content_hash for it in data.items], groups, ids)
    record.audit.update(near_dup_audit.audit(split_plan, near, ids))
    _log_plan_notes(ctx, data, split_plan, record)
    record.header = {
        "task": "binary" if len(ctx.classes) == 2 else "multiclass",
        "classes": ctx.classes,
        "model": ctx.model_name,
        "device": str(ctx.device),
        "mode": split_plan.mode,
        "folds_planned": len(split_plan.folds),
        "split_plan": split_plan.to_json(ids),
    }
    folds = [f for f in split_plan.folds if ctx.cfg.fold in (None, f.number)]
    return Splits(split_plan, folds)


def _log_plan_notes(
    ctx: RunContext, data: LoadedData, split_plan: SplitPlan, record: RunRecord
) -> None:
    for note in split_plan.notes:
        ctx.log(note)
    marked_val = sum(1 for it in data.items if it.split == "val")
    if marked_val and split_plan.mode == "kfold":
        ctx.log(f"{marked_val} item(s) marked 'val' take part in the k-fold rotation")
    for warning in audit_warnings(ctx, record):
        ctx.log(f"leakage audit: {warning}", "warning")
    ctx.log(
        f"{split_plan.mode}: {len(split_plan.folds)} fold(s), "
        f"{len(split_plan.test)} test item(s), grouped: {split_plan.grouped}"
    )
