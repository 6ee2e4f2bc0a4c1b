"""The study's results: one row per run (model or trial), the settings that differ between
runs, paired statistics of the best model against each other one, and the files in
``runs/<study-id>/``:

* ``study.json``  the spec (shared settings), the rows, the statistics and their sentences
* ``study.csv``   the table (one row per model; the differing settings as columns)
* ``stats.csv``   best vs each other model: paired t-test on per-fold AUCs and DeLong's test
  on the pooled out-of-fold predictions, with p-values, Holm-adjusted ones and the plain
  sentence (training/recipe/study_stats.py)
* ``roc.png/svg`` the models' mean cross-validation ROC curves overlaid
* ``auc_vs_macs.png/svg`` CV AUC (mean ± std) against MACs, log x, Pareto front drawn

Only numpy/scipy (and matplotlib for the plots, imported when drawing): the window reads the
same rows to fill its study view without loading torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from medview.core import csv_cells
from medview.core.containment import atomic_text, ensure_dir
from medview.core.project import Project
from medview.core.run_folder import CONFIG, HISTORY, METRICS
from training.recipe import stats
from training.recipe.study_stats import oof_scores as oof_scores  # re-exported for older callers
from training.recipe.study_stats import paired_statistics

# Config keys never shown as a "differing setting": they name or place a run, or are the
# model itself (its own column).
NOT_SETTINGS = {"project", "run_id", "extra", "model", "resolved", "threads", "device"}
CSV_COLUMNS = [
    "model",
    "run_id",
    "status",
    "cv_auc_mean",
    "cv_auc_std",
    "cv_auc_ci_low",
    "cv_auc_ci_high",
    "cv_accuracy_mean",
    "cv_accuracy_std",
    "cv_f1_mean",
    "cv_f1_std",
    "test_auc",
    "test_accuracy",
    "test_f1",
    "parameters",
    "macs",
    "seconds_per_epoch",
    "total_seconds",
]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _stat(summary: dict[str, Any], key: str) -> tuple[float | None, float | None]:
    s = summary.get(key) or {}
    return s.get("mean"), s.get("std")


def _f1_key(metrics: dict[str, Any]) -> str:
    """metrics.json keeps F1 under ``f1`` for every task (macro-averaged for multiclass, as
    training/engine/metrics.py says); ``f1_macro`` only where an older file has it."""
    summary = metrics.get("summary") or {}
    return "f1_macro" if "f1" not in summary and "f1_macro" in summary else "f1"


def _seconds_per_epoch(run_dir: Path) -> float | None:
    try:
        with (run_dir / HISTORY).open(newline="", encoding="utf-8") as fh:
            secs = [float(r["seconds"]) for r in csv_cells.DictReader(fh) if r.get("seconds")]
    except (OSError, ValueError, KeyError):
        return None
    return float(np.mean(secs)) if secs else None


def run_row(project: Project, run: Any) -> dict[str, Any]:
    """One table row from a run's metrics.json (the DB copy when the file is missing)."""
    run_dir = project.runs_dir / run.id
    metrics = _read_json(run_dir / METRICS) or dict(run.metrics)
    config = _read_json(run_dir / CONFIG) or dict(run.config)
    summary = metrics.get("summary") or {}
    test = metrics.get("test") or {}
    info = metrics.get("model_info") or {}
    f1 = _f1_key(metrics)
    # A run still going is "training" (never "not run"); the database says "running".
    status = "training" if run.status == "running" else run.status
    row: dict[str, Any] = {"model": run.model, "run_id": run.id, "status": status}
    for name, key in (("cv_auc", "roc_auc"), ("cv_accuracy", "accuracy"), ("cv_f1", f1)):
        row[f"{name}_mean"], row[f"{name}_std"] = _stat(summary, key)
    row["test_auc"] = test.get("roc_auc")
    row["test_accuracy"] = test.get("accuracy")
    row["test_f1"] = test.get(f1)
    row["parameters"] = info.get("parameters")
    row["macs"] = info.get("macs")
    row["seconds_per_epoch"] = _seconds_per_epoch(run_dir)
    row["total_seconds"] = (metrics.get("timing") or {}).get("total_seconds")
    row["fold_aucs"] = {int(f["fold"]): f.get("roc_auc") for f in metrics.get("folds", [])}
    ci = stats.t_interval(list(row["fold_aucs"].values()))
    row["cv_auc_ci"] = list(ci) if ci is not None else None
    row["roc_mean"] = metrics.get("roc_mean")
    row["split_plan"] = metrics.get("split_plan")
    row["classes"] = metrics.get("classes") or []
    row["task"] = metrics.get("task")
    row["message"] = run.message
    row["settings"] = {k: v for k, v in config.items() if k not in NOT_SETTINGS}
    return row


def differing_settings(rows: list[dict[str, Any]]) -> list[str]:
    """The settings whose value is not the same in every run (the hyper-parameter table)."""
    keys: list[str] = []
    for row in rows:
        for key in row.get("settings", {}):
            if key not in keys:
                keys.append(key)
    out = []
    for key in keys:
        values = {json.dumps(r.get("settings", {}).get(key), sort_keys=True) for r in rows}
        if len(values) > 1:
            out.append(key)
    return out


def collect(
    project: Project,
    study_id: str,
    failed: dict[str, str] | None = None,
    training: str | None = None,
):
    """The study and its rows; ``training`` names the model being trained now ("training",
    not "not run", until its run exists)."""
    study = project.get_study(study_id)
    runs = project.study_runs(study_id)
    rows = [run_row(project, r) for r in runs]
    if study.kind == "compare":
        by_model = {r["model"]: r for r in rows}
        ordered = []
        for model in study.spec.get("models", []):
            if model in by_model:
                ordered.append(by_model[model])
            else:
                reason = (failed or {}).get(model)
                ordered.append(
                    {
                        "model": model,
                        "run_id": study.spec.get("runs", {}).get(model),
                        "status": "failed"
                        if reason
                        else "training"
                        if model == training
                        else "not run",
                        "message": reason,
                        "fold_aucs": {},
                        "settings": {},
                    }
                )
        rows = ordered
    return study, rows


def write_study_report(
    project_path: str | Path,
    study_id: str,
    final: bool = True,
    failed: dict[str, str] | None = None,
    training: str | None = None,
) -> dict[str, Any]:
    with Project.open(project_path) as project:
        folder = ensure_dir(project.folder, project.study_dir(study_id))  # never via a link
        previous = _read_json(folder / "study.json")
        failed = {**(previous.get("failed") or {}), **(failed or {})}
        study, rows = collect(project, study_id, failed, training)
        statistics = paired_statistics(project, rows)
    settings = differing_settings([r for r in rows if r.get("settings")])
    report = {
        "id": study.id,
        "kind": study.kind,
        "status": study.status,
        "spec": study.spec,
        "differing_settings": settings,
        "rows": [{k: v for k, v in r.items() if k not in ("roc_mean", "split_plan")} for r in rows],
        "best": statistics["best"],
        "paired": statistics["pairs"],
        "paired_test": stats.PAIRED_TEST_WHY,
        "cv_auc_ci_how": stats.T_INTERVAL_HOW,
        "correction": "Holm over the pairs compared, per test",
        "failed": failed,
    }
    if previous.get("tune"):
        report["tune"] = previous["tune"]
    _write_json(folder / "study.json", report)
    write_table_csv(folder / "study.csv", rows, settings)
    write_stats_csv(folder / "stats.csv", statistics["pairs"])
    if final:
        from training.recipe.study_figures import write_study_plots

        write_study_plots(folder, rows, statistics["best"])
    return report


def update_tune_section(project_path: str | Path, study_id: str, tune: dict[str, Any]) -> None:
    with Project.open(project_path) as project:
        folder = project.study_dir(study_id)
    data = _read_json(folder / "study.json")
    data["tune"] = tune
    _write_json(folder / "study.json", data)


def _write_json(path: Path, data: Any) -> None:
    from medview.core.run_folder import write_json

    write_json(path, data)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def write_table_csv(path: Path, rows: list[dict[str, Any]], settings: list[str]) -> None:
    with atomic_text(path) as fh:
        writer = csv_cells.writer(fh)
        writer.writerow([*CSV_COLUMNS, *settings, "fold_aucs"])
        for r in rows:
            folds = r.get("fold_aucs") or {}
            ci = r.get("cv_auc_ci") or [None, None]
            values = {**r, "cv_auc_ci_low": ci[0], "cv_auc_ci_high": ci[1]}
            writer.writerow(
                [_cell(values.get(c)) for c in CSV_COLUMNS]
                + [_cell(r.get("settings", {}).get(s)) for s in settings]
                + [";".join(_cell(folds[f]) for f in sorted(folds))]
            )


STATS_COLUMNS = [
    "best",
    "other",
    "fold_test",
    "folds",
    "fold_mean_difference",
    "fold_t",
    "fold_p",
    "fold_p_holm",
    "delong_n",
    "delong_auc_best",
    "delong_auc_other",
    "delong_z",
    "delong_p",
    "delong_p_holm",
    "sentence",
]


def write_stats_csv(path: Path, pairs: list[dict[str, Any]]) -> None:
    with atomic_text(path) as fh:
        writer = csv_cells.writer(fh)
        writer.writerow(STATS_COLUMNS)
        for p in pairs:
            writer.writerow(
                [_cell(len(p["folds"]) if c == "folds" else p.get(c)) for c in STATS_COLUMNS]
            )


def load_report(project: Project, study_id: str) -> dict[str, Any]:
    """study.json as written (the window's study view), recomputed when it is missing."""
    data = _read_json(project.study_dir(study_id) / "study.json")
    return data or write_study_report(project.folder, study_id, final=False)


def study_rows(project: Project, study_id: str) -> list[dict[str, Any]]:
    """The rows with their mean ROC curves (for plots), straight from the runs."""
    return collect(project, study_id)[1]
