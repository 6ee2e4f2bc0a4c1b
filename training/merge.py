"""Merging per-fold runs (``train --fold i``, e.g. one cluster job per fold) into one run.

The fold plan is a pure function of the labelled items and the seed, so runs made with the
same settings agree on every fold; merge checks that (same config apart from the fold, same
split plan), copies the weights, concatenates histories and predictions and recomputes the
metrics with the very code a full run uses, so the merged folder has the full run's structure.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np

from medview.core.errors import MedviewError
from medview.core.project import Project
from training.report import (
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


class MergeError(MedviewError):
    """The runs cannot be merged (different settings, same fold twice, unfinished run...)."""


def merge_runs(project: Project, run_ids: Sequence[str], new_id: str | None = None) -> str:
    if len(run_ids) < 1:
        raise MergeError("give the runs to merge")
    parts = []
    for run_id in run_ids:
        run = project.get_run(run_id)
        run_dir = project.run_dir(run_id)  # a link at runs/ or runs/<id> is refused
        if run.status != "finished":
            raise MergeError(f"run {run_id} is {run.status}, not finished")
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        parts.append((run_id, run_dir, config, metrics))
    first_cfg, first_metrics = parts[0][2], parts[0][3]
    classes = first_metrics["classes"]
    seen: dict[int, str] = {}
    for run_id, _dir, config, metrics in parts:
        diff = sorted(
            k
            for k in set(config) | set(first_cfg)
            if k not in FREE_KEYS and config.get(k) != first_cfg.get(k)
        )
        if diff:
            raise MergeError(f"run {run_id} differs from {parts[0][0]} in: {', '.join(diff)}")
        if metrics.get("split_plan") != first_metrics.get("split_plan"):
            raise MergeError(
                f"run {run_id} was split differently (items or labels changed between runs)"
            )
        for fold in metrics["folds"]:
            if fold["fold"] in seen:
                raise MergeError(
                    f"fold {fold['fold']} is in both {seen[fold['fold']]} and {run_id}"
                )
            seen[fold["fold"]] = run_id
    new_id = new_id or re.sub(r"-fold\d+(-\d+)?$", "", parts[0][0]) + "-merged"
    if (project.runs_dir / new_id).exists():
        raise MergeError(f"a run {new_id!r} already exists; choose another --run-id")

    config = {k: v for k, v in first_cfg.items() if k != "fold"}
    config.update(fold=None, run_id=new_id, merged_from=list(run_ids))
    project.create_run(new_id, config, model=first_cfg.get("model"))
    run_dir = project.run_dir(new_id)
    history: list[dict[str, Any]] = []
    rows = []
    fold_info = []
    logs = []
    total_seconds = train_seconds = samples = 0.0
    for run_id, part_dir, _config, metrics in sorted(parts, key=lambda p: p[3]["folds"][0]["fold"]):
        for weights in sorted(part_dir.glob("fold*.safetensors")):
            shutil.copy2(weights, run_dir / weights.name)
        history += read_history(part_dir / "history.csv")
        rows += [r for r in read_predictions(part_dir / "predictions.csv", classes) if r.fold > 0]
        fold_info += [
            {k: f.get(k) for k in ("fold", "n_train", "best_epoch", "epochs_run", "stopped_early")}
            for f in metrics["folds"]
        ]
        timing = metrics.get("timing", {})
        total_seconds += timing.get("total_seconds") or 0.0
        train_seconds += timing.get("train_seconds") or 0.0
        samples += (timing.get("train_samples_per_second") or 0.0) * (
            timing.get("train_seconds") or 0.0
        )
        log = part_dir / "log.txt"
        if log.is_file():
            logs.append(f"===== {run_id} =====\n{log.read_text(encoding='utf-8')}")
    from training.calibration import fit_calibration

    oof = [r for r in rows if r.fold > 0 and r.split == "val"]
    calibration = (
        fit_calibration(
            np.asarray([r.probs for r in oof]),
            np.asarray([r.true for r in oof], dtype=float),
            calibrate=first_cfg.get("calibrate", True),
            threshold=first_cfg.get("threshold") or "youden",
            target_recall=first_cfg.get("target_recall"),
        )
        if oof
        else None
    )
    rows += final_rows(rows, calibration)
    base_keys = (
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
    merged = {k: first_metrics[k] for k in base_keys if k in first_metrics}
    merged.update(compute_metrics(classes, fold_info, rows, calibration))
    merged["leakage"] = first_metrics.get("leakage", {})
    merged["status"] = "finished"
    merged["merged_from"] = list(run_ids)
    merged["timing"] = {
        "total_seconds": round(total_seconds, 3),
        "train_seconds": round(train_seconds, 3),
        "train_samples_per_second": round(samples / train_seconds, 3) if train_seconds else None,
    }
    planned = first_metrics.get("folds_planned")
    if planned and len(fold_info) < planned:
        merged["warnings"].append(f"partial run: {len(fold_info)} of {planned} folds merged")
    write_json(run_dir / "config.json", config)
    write_json(run_dir / "metrics.json", merged)
    write_history(run_dir / "history.csv", history)
    names = {it.id: it.name for it in project.items()}
    write_predictions(run_dir / "predictions.csv", rows, classes, names)
    write_plots(run_dir, classes, merged, history)
    (run_dir / "log.txt").write_text("\n".join(logs), encoding="utf-8")
    project.add_predictions(
        new_id,
        [(r.item_id, r.fold, r.split, r.probs, classes[r.predicted()]) for r in rows],
    )
    project.finish_run(new_id, "finished", db_metrics(merged))
    return new_id
