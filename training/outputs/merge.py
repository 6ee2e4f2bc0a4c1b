"""Merging per-fold runs (``train --fold i``, e.g. one cluster job per fold) into one run.

The fold plan is a pure function of the labelled items and the seed, so runs made with the
same settings agree on every fold; merge checks that (same config apart from the fold, same
split plan), copies the weights, concatenates histories and predictions and recomputes the
metrics with the very code a full run uses, so the merged folder has the full run's structure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medview.core.containment import copy_regular_file, write_new_file
from medview.core.errors import MedviewError
from medview.core.project import Project
from medview.core.run_folder import CONFIG, HISTORY, LOG, METRICS, PREDICTIONS, RunFolder
from training.engine.report import (
    PredRow,
    calibrated_rows,
    compute_metrics,
    db_metrics,
    final_rows,
    read_history,
    read_predictions,
    write_history,
    write_json,
    write_plots,
    write_predictions,
)

# Settings that may differ between the fold runs of one experiment.
FREE_KEYS = {"fold", "run_id", "threads", "device", "resolved", "project"}
# What the merged metrics.json keeps of the first part's fixed header, and of each fold.
HEADER_KEYS = (
    "task",
    "classes",
    "model",
    "device",
    "mode",
    "folds_planned",
    "split_plan",
    "model_info",
    "pretrained",
)
FOLD_KEYS = ("fold", "n_train", "best_epoch", "epochs_run", "stopped_early")


class MergeError(MedviewError):
    """The runs cannot be merged (different settings, same fold twice, unfinished run...)."""


@dataclass
class _Part:
    """One finished fold run to merge."""

    run_id: str
    run_dir: Path
    config: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def first_fold(self) -> int:
        return int(self.metrics["folds"][0]["fold"])


@dataclass
class _Collected:
    """The parts' folds put together: histories, predictions, fold facts, logs, timing."""

    history: list[dict[str, Any]] = field(default_factory=list)
    rows: list[PredRow] = field(default_factory=list)
    fold_info: list[dict[str, Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    total_seconds: float = 0.0
    train_seconds: float = 0.0
    samples: float = 0.0


def merge_runs(project: Project, run_ids: Sequence[str], new_id: str | None = None) -> str:
    if len(run_ids) < 1:
        raise MergeError("give the runs to merge")
    parts = [_read_part(project, run_id) for run_id in run_ids]
    _check_compatible(parts)
    first = parts[0]
    new_id = new_id or re.sub(r"-fold\d+(-\d+)?$", "", first.run_id) + "-merged"
    if (project.runs_dir / new_id).exists():
        raise MergeError(f"a run {new_id!r} already exists; choose another --run-id")
    config = {k: v for k, v in first.config.items() if k != "fold"}
    config.update(fold=None, run_id=new_id, merged_from=list(run_ids))
    project.create_run(new_id, config, model=first.config.get("model"))
    run_dir = project.run_dir(new_id)
    classes = first.metrics["classes"]
    got = _collect(parts, run_dir, classes)
    calibration = _calibration(got.rows, first.config)
    got.rows = calibrated_rows(got.rows, calibration) + final_rows(got.rows, calibration)
    merged = _merged_metrics(first.metrics, classes, got, calibration, run_ids)
    _write_run(project, run_dir, config, merged, got, classes)
    project.add_predictions(
        new_id,
        [(r.item_id, r.fold, r.split, r.probs, classes[r.predicted()]) for r in got.rows],
    )
    project.finish_run(new_id, "finished", db_metrics(merged))
    return new_id


def _read_part(project: Project, run_id: str) -> _Part:
    run = project.get_run(run_id)
    run_dir = project.run_dir(run_id)  # a link at runs/ or runs/<id> is refused
    if run.status != "finished":
        raise MergeError(f"run {run_id} is {run.status}, not finished")
    config = json.loads((run_dir / CONFIG).read_text(encoding="utf-8"))
    metrics = json.loads((run_dir / METRICS).read_text(encoding="utf-8"))
    return _Part(run_id, run_dir, config, metrics)


def _check_compatible(parts: list[_Part]) -> None:
    """Same settings apart from FREE_KEYS, the same split plan, each fold once."""
    first = parts[0]
    seen: dict[int, str] = {}
    for part in parts:
        keys = set(part.config) | set(first.config)
        diff = sorted(
            k for k in keys if k not in FREE_KEYS and part.config.get(k) != first.config.get(k)
        )
        if diff:
            raise MergeError(f"run {part.run_id} differs from {first.run_id} in: {', '.join(diff)}")
        if part.metrics.get("split_plan") != first.metrics.get("split_plan"):
            raise MergeError(
                f"run {part.run_id} was split differently (items or labels changed between runs)"
            )
        for fold in part.metrics["folds"]:
            if fold["fold"] in seen:
                raise MergeError(
                    f"fold {fold['fold']} is in both {seen[fold['fold']]} and {part.run_id}"
                )
            seen[fold["fold"]] = part.run_id


def _collect(parts: list[_Part], run_dir: Path, classes: list[str]) -> _Collected:
    """Weights copied into the merged folder; everything else read, in fold order."""
    got = _Collected()
    for part in sorted(parts, key=lambda p: p.first_fold):
        source, target = RunFolder(part.run_dir), RunFolder(run_dir)
        for fold in source.weight_folds():
            weights = source.weights(fold)
            if not copy_regular_file(weights, target.weights(fold)):
                raise MergeError(f"{weights}: not a plain file (a link?): not merged")
        got.history += read_history(part.run_dir / HISTORY)
        predictions = read_predictions(part.run_dir / PREDICTIONS, classes)
        got.rows += [r for r in predictions if r.fold > 0]
        got.fold_info += [{k: f.get(k) for k in FOLD_KEYS} for f in part.metrics["folds"]]
        timing = part.metrics.get("timing", {})
        got.total_seconds += timing.get("total_seconds") or 0.0
        got.train_seconds += timing.get("train_seconds") or 0.0
        rate = timing.get("train_samples_per_second") or 0.0
        got.samples += rate * (timing.get("train_seconds") or 0.0)
        log = part.run_dir / LOG
        if log.is_file():
            got.logs.append(f"===== {part.run_id} =====\n{log.read_text(encoding='utf-8')}")
    return got


def _calibration(rows: list[PredRow], config: dict[str, Any]):  # -> CrossFit | None
    """Refitted, cross-fitted, on the out-of-fold predictions of all merged folds (from each
    row's uncalibrated probabilities)."""
    from training.engine.run_report import fit_run_calibration

    oof = [
        PredRow(r.item_id, r.fold, r.split, r.true, r.uncalibrated)
        for r in rows
        if r.fold > 0 and r.split == "val"
    ]
    if not oof:
        return None
    return fit_run_calibration(sorted({r.fold for r in rows if r.fold > 0}), oof, config)


def _merged_metrics(
    first: dict[str, Any],
    classes: list[str],
    got: _Collected,
    calibration: Any,
    run_ids: Sequence[str],
) -> dict[str, Any]:
    """metrics.json of the merged run, computed by the same code as a full run's."""
    merged = {k: first[k] for k in HEADER_KEYS if k in first}
    merged.update(compute_metrics(classes, got.fold_info, got.rows, calibration))
    merged["leakage"] = first.get("leakage", {})
    merged["status"] = "finished"
    merged["merged_from"] = list(run_ids)
    seconds = got.train_seconds
    merged["timing"] = {
        "total_seconds": round(got.total_seconds, 3),
        "train_seconds": round(seconds, 3),
        "train_samples_per_second": round(got.samples / seconds, 3) if seconds else None,
    }
    planned = first.get("folds_planned")
    if planned and len(got.fold_info) < planned:
        merged["warnings"].append(f"partial run: {len(got.fold_info)} of {planned} folds merged")
    return merged


def _write_run(
    project: Project,
    run_dir: Path,
    config: dict[str, Any],
    merged: dict[str, Any],
    got: _Collected,
    classes: list[str],
) -> None:
    write_json(run_dir / CONFIG, config)
    RunFolder(run_dir).write_metrics(merged)  # with folds.csv
    write_history(run_dir / HISTORY, got.history)
    names = {it.id: it.name for it in project.items()}
    write_predictions(run_dir / PREDICTIONS, got.rows, classes, names)
    write_plots(run_dir, classes, merged, got.history)
    write_new_file(run_dir / LOG, "\n".join(got.logs).encode("utf-8"))
