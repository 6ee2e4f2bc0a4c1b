"""Slice mode's steps in a run (``--slices``): decode the volumes' slices, plan the folds on
volumes and patients then expand them to slices, keep each fold's slice predictions and their
volume aggregates, add the slice and patient levels to the report, and predict unlabelled
volumes from their slices. The run's other steps (training.run_data, training.folds,
training.run_report) call these when ``cfg.slices`` is set; everything else is shared.

The volume is the run's unit: ``record.rows`` (metrics.json's folds, summary and test,
predictions.csv, calibration, the predictions in the project) are volume rows; the slices'
rows are kept beside them in ``record.slices``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medview.core import messages as msg
from medview.core.run_folder import RunFolder
from training import near_dup_audit
from training.aggregate import SliceRow, volume_rows
from training.cross_validation import audit_leakage, expand_plan, plan_splits
from training.loop import Cancelled
from training.report import PredRow
from training.run_context import RunContext, RunRecord, Splits
from training.slice_data import SliceData, load_slices
from training.slice_report import (
    levels_block,
    write_levels_plot,
    write_patients_csv,
    write_slices_csv,
)


@dataclass
class SliceRecord:
    """What slice mode keeps beside the run's volume rows."""

    rows: list[SliceRow] = field(default_factory=list)
    planes: dict[int, str] = field(default_factory=dict)  # volume id -> axial / coronal / ...
    groups: dict[int, str | None] = field(default_factory=dict)  # volume id -> patient


def load(ctx: RunContext) -> SliceData:
    step = max(1, len(ctx.items) // 20)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            ctx.emit(msg.Progress("loading", done, total))

    if getattr(ctx.cfg, "data", "auto") == "stream":
        ctx.log("slice mode keeps its slices in memory (float16): --data stream not used")
    t0 = time.perf_counter()
    data = _load_volumes(ctx, ctx.items, progress)
    if ctx.should_cancel():
        raise Cancelled()
    for line in data.skipped:
        ctx.log(f"skipped {line}", "warning")
    for line in data.notes:
        ctx.log(line, "warning" if "no key slice" in line else "info")
    planes = ", ".join(f"{n} {p}" for p, n in _plane_counts(data).items())
    mib = data.n_slices * ctx.size * ctx.size * 2 / 2**20
    ctx.log(
        f"sliced {len(data.items)} volumes ({planes}) into {data.n_slices} slices "
        f"({ctx.cfg.slices}) of {ctx.size}x{ctx.size} px, float16, {mib:.0f} MiB, in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    return data


def _load_volumes(ctx: RunContext, items: list[Any], progress: Any = None) -> SliceData:
    assert ctx.cfg.slices is not None
    return load_slices(
        ctx.project,
        items,
        ctx.prep,
        ctx.classes,
        ctx.cfg.slices,
        keys=ctx.project.key_slices(),
        min_content=ctx.cfg.slice_min_content,
        progress=progress,
        should_cancel=ctx.should_cancel,
    )


def _plane_counts(data: SliceData) -> dict[str, int]:
    counts: dict[str, int] = {}
    for plane in data.planes:
        counts[plane] = counts.get(plane, 0) + 1
    return counts


def plan(ctx: RunContext, data: SliceData, record: RunRecord) -> Splits:
    """Folds planned on volumes (grouped by patient), then every slice follows its volume;
    the leakage audit runs on the slice-level plan the folds actually train on."""
    ids = [it.id for it in data.items]
    groups = [it.group for it in data.items]
    near = near_dup_audit.clusters(ctx.project, data.items)
    if ctx.cfg.near_duplicate_groups and near:
        groups = near_dup_audit.groups_with_clusters(groups, near)
    volumes = plan_splits(
        data.volume_y.tolist(), groups, [it.split for it in data.items], ids,
        n_folds=ctx.cfg.folds, seed=ctx.cfg.seed, holdout=ctx.cfg.holdout,
        holdout_fractions=ctx.cfg.holdout_fractions,
    )  # fmt: skip
    sliced = expand_plan(volumes, data.volume_of.tolist())
    source = [ids[v] for v in data.volume_of]
    hashes = [data.items[v].content_hash for v in data.volume_of]
    record.audit = audit_leakage(
        sliced, hashes, [groups[v] for v in data.volume_of], source, sources=source
    )
    record.audit.update(near_dup_audit.audit(volumes, near, ids))
    record.header = _header(ctx, data, volumes.mode, len(volumes.folds), volumes.to_json(ids))
    record.slices = SliceRecord(
        planes={it.id: p for it, p in zip(data.items, data.planes, strict=True)},
        groups={it.id: it.group for it in data.items},
    )
    _log_plan(ctx, volumes.notes, record, len(volumes.test), len(sliced.test), volumes.grouped)
    return Splits(sliced, [f for f in sliced.folds if ctx.cfg.fold in (None, f.number)])


def _header(
    ctx: RunContext, data: SliceData, mode: str, n_folds: int, split_plan: dict[str, Any]
) -> dict[str, Any]:
    return {
        "task": "binary" if len(ctx.classes) == 2 else "multiclass",
        "classes": ctx.classes,
        "model": ctx.model_name,
        "device": str(ctx.device),
        "mode": mode,
        "folds_planned": n_folds,
        "split_plan": split_plan,
        "unit": "volume",  # folds/summary/test below are volume-level; see "levels"
        "slice_mode": {
            "slices": ctx.cfg.slices,
            "aggregate": ctx.cfg.slice_aggregate,
            "min_content": ctx.cfg.slice_min_content,
            "volumes": len(data.items),
            "slices_total": data.n_slices,
            "planes": _plane_counts(data),
            "key_fallbacks": sum(1 for s in data.selections if "no key" in s.source),
            "slices_dropped_without_content": sum(s.dropped for s in data.selections),
        },
    }


def _log_plan(
    ctx: RunContext, notes: list[str], record: RunRecord, test: int, test_slices: int, grouped: bool
) -> None:
    from training.run_report import audit_warnings

    for note in notes:
        ctx.log(note)
    for warning in audit_warnings(ctx, record):
        ctx.log(f"leakage audit: {warning}", "warning")
    header = record.header
    ctx.log(
        f"{header['mode']}: {header['folds_planned']} fold(s) of volumes, {test} test volume(s) "
        f"({test_slices} slices), grouped by patient: {grouped}; slices of a volume never "
        f"straddle folds (audit: {record.audit.get('volumes_across_folds', 0)} across)"
    )


def keep_rows(
    ctx: RunContext,
    data: SliceData,
    record: RunRecord,
    fold: int,
    split: str,
    indices: list[int],
    probs: np.ndarray,
) -> None:
    """One fold model's slice predictions, and the volume rows they aggregate to."""
    rows = [
        SliceRow(
            data.items[data.volume_of[k]].id, fold, split, int(data.y[k]), p.tolist(),
            index=int(data.index[k]), axis=data.selections[data.volume_of[k]].axis,
        )
        for k, p in zip(indices, probs, strict=True)
    ]  # fmt: skip
    record.slices.rows += rows
    record.rows += volume_rows(rows, ctx.cfg.slice_aggregate)


def add_to_report(ctx: RunContext, record: RunRecord, metrics: dict[str, Any], final: bool) -> None:
    """metrics.json's ``levels``, slices.csv, patients.csv and (at the end) the levels plot."""
    kept: SliceRecord = record.slices
    how = ctx.cfg.slice_aggregate
    folds = [int(f["fold"]) for f in record.fold_info]
    metrics["levels"] = levels_block(ctx.classes, folds, kept.rows, kept.groups, how)
    folder = RunFolder(ctx.run_dir)
    names = {it.id: it.name for it in ctx.items}
    write_slices_csv(folder.slices, kept.rows, ctx.classes, names, kept.planes)
    if any(kept.groups.values()):
        write_patients_csv(folder.patients, kept.rows, kept.groups, how, ctx.classes)
    if final:
        write_levels_plot(ctx.run_dir, metrics["levels"])


def predict_unlabelled(ctx: RunContext, record: RunRecord) -> list[PredRow]:
    """The fold ensemble on the slices of unlabelled volumes, aggregated per volume."""
    from training.report import calibrated_rows
    from training.run_report import calibration
    from training.slice_predict import SliceSettings, ensemble_slices

    items = [it for it in ctx.project.items(labelled=False) if it.kind == "3d"]
    if not items or not ctx.cfg.predict_unlabelled or ctx.cfg.fold is not None:
        return []
    probs, kept = ensemble_slices(
        ctx.project, ctx.run_dir, ctx.model_name, ctx.classes, ctx.prep,
        SliceSettings.of(ctx.cfg.to_dict()), items, ctx.device, record.folds_done,
        ctx.batch_size, bool(ctx.cfg.tta),
    )  # fmt: skip
    rows = [PredRow(it.id, 0, None, None, p.tolist()) for it, p in zip(kept, probs, strict=True)]
    return calibrated_rows(rows, calibration(ctx, record))
