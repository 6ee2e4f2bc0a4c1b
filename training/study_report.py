"""The study's results: one row per run (model or trial), the settings that differ between
runs, paired statistics of the best model against each other one, and the files in
``runs/<study-id>/``:

* ``study.json``  the spec (shared settings), the rows, the statistics and their sentences
* ``study.csv``   the table (one row per model; the differing settings as columns)
* ``stats.csv``   best vs each other model: paired t-test on per-fold AUCs and DeLong's test
  on the pooled out-of-fold predictions, with p-values and the plain sentence
* ``roc.png/svg`` the models' mean cross-validation ROC curves overlaid
* ``auc_vs_macs.png/svg`` CV AUC (mean ± std) against MACs, log x, Pareto front drawn

Only numpy/scipy (and matplotlib for the plots, imported when drawing): the window reads the
same rows to fill its study view without loading torch.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from medview.core.project import Project
from training import stats

# Config keys never shown as a "differing setting": they name or place a run, or are the
# model itself (its own column).
NOT_SETTINGS = {"project", "run_id", "extra", "model", "resolved", "threads", "device"}
CSV_COLUMNS = [
    "model",
    "run_id",
    "status",
    "cv_auc_mean",
    "cv_auc_std",
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
    return "f1" if metrics.get("task") == "binary" else "f1_macro"


def _seconds_per_epoch(run_dir: Path) -> float | None:
    try:
        with (run_dir / "history.csv").open(newline="", encoding="utf-8") as fh:
            secs = [float(r["seconds"]) for r in csv.DictReader(fh) if r.get("seconds")]
    except (OSError, ValueError, KeyError):
        return None
    return float(np.mean(secs)) if secs else None


def run_row(project: Project, run: Any) -> dict[str, Any]:
    """One table row from a run's metrics.json (the DB copy when the file is missing)."""
    run_dir = project.runs_dir / run.id
    metrics = _read_json(run_dir / "metrics.json") or dict(run.metrics)
    config = _read_json(run_dir / "config.json") or dict(run.config)
    summary = metrics.get("summary") or {}
    test = metrics.get("test") or {}
    info = metrics.get("model_info") or {}
    f1 = _f1_key(metrics)
    row: dict[str, Any] = {"model": run.model, "run_id": run.id, "status": run.status}
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


def oof_scores(project: Project, row: dict[str, Any]) -> dict[int, tuple[int, float]]:
    """Each cross-validated item's out-of-fold probability of the positive class (binary)."""
    classes = row.get("classes") or []
    if len(classes) != 2:
        return {}
    path = project.runs_dir / row["run_id"] / "predictions.csv"
    out: dict[int, tuple[int, float]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                if r["fold"] == "0" and r["split"] == "val" and r["true"]:
                    out[int(r["item_id"])] = (
                        classes.index(r["true"]),
                        float(r[f"prob_{classes[1]}"]),
                    )
    except (OSError, ValueError, KeyError):
        return {}
    return out


def paired_statistics(project: Project, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The best model (highest mean CV AUC) against each other finished one."""
    done = [r for r in rows if r["status"] == "finished" and r.get("cv_auc_mean") is not None]
    if len(done) < 2:
        return {"best": done[0]["run_id"] if done else None, "pairs": []}
    best = max(done, key=lambda r: r["cv_auc_mean"])
    best_oof = oof_scores(project, best)
    pairs = []
    for other in done:
        if other is best:
            continue
        pair = _fold_comparison(best, other, rows)
        pair.update(_delong_comparison(best_oof, oof_scores(project, other)))
        pair["sentence"] = _sentence(pair)
        pairs.append(pair)
    return {"best": best["run_id"], "pairs": pairs}


def _fold_comparison(
    best: dict[str, Any], other: dict[str, Any], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The paired test on the AUCs of the folds both runs have."""
    folds = sorted(set(best["fold_aucs"]) & set(other["fold_aucs"]))
    a = [best["fold_aucs"][f] for f in folds]
    b = [other["fold_aucs"][f] for f in folds]
    a_f = [math.nan if v is None else v for v in a]
    b_f = [math.nan if v is None else v for v in b]
    fold_test = stats.paired_fold_test(a_f, b_f)
    return {
        "best": best["run_id"],
        "other": other["run_id"],
        "best_label": _label(best, rows),
        "other_label": _label(other, rows),
        "folds": folds,
        "fold_test": fold_test.test,
        "fold_mean_difference": fold_test.mean_difference,
        "fold_t": fold_test.statistic,
        "fold_p": fold_test.p_value,
    }


def _delong_comparison(
    best_oof: dict[int, tuple[int, float]], other_oof: dict[int, tuple[int, float]]
) -> dict[str, Any]:
    """DeLong's test on the out-of-fold predictions of the items both runs scored (binary)."""
    common = sorted(set(best_oof) & set(other_oof))
    out: dict[str, Any] = {"delong_n": len(common)}
    out["delong_p"] = out["delong_auc_best"] = out["delong_auc_other"] = None
    if common and len({best_oof[i][0] for i in common}) == 2:
        y = [best_oof[i][0] for i in common]
        d = stats.delong_test(
            y, [best_oof[i][1] for i in common], [other_oof[i][1] for i in common]
        )
        out.update(
            delong_auc_best=d.auc_a,
            delong_auc_other=d.auc_b,
            delong_z=d.z,
            delong_p=d.p_value,
        )
    return out


def _label(row: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The model's name, or the run id when several rows share a model (a search's trials)."""
    same = [r for r in rows if r["model"] == row["model"]]
    return str(row["model"]) if len(same) == 1 else str(row["run_id"])


def _sentence(pair: dict[str, Any]) -> str:
    """One sentence per pair, naming both tests: significant only when a test says so."""
    best, other = pair["best_label"], pair["other_label"]
    fold = stats.verdict(best, other, pair["fold_p"], pair["fold_mean_difference"])
    parts = [f"paired t-test on {len(pair['folds'])} fold AUCs {stats.format_p(pair['fold_p'])}"]
    if pair["delong_p"] is not None:
        parts.append(f"DeLong on pooled out-of-fold predictions {stats.format_p(pair['delong_p'])}")
    diff_delong = (pair.get("delong_auc_best") or 0) - (pair.get("delong_auc_other") or 0)
    sig_fold = pair["fold_p"] is not None and pair["fold_p"] < stats.ALPHA
    sig_delong = pair["delong_p"] is not None and pair["delong_p"] < stats.ALPHA
    if sig_fold == sig_delong:
        head = fold.split(" (")[0] if pair["fold_p"] is not None else None
        if head is None:
            head = stats.verdict(best, other, pair["delong_p"], diff_delong).split(" (")[0]
    else:
        which = "DeLong" if sig_delong else "the paired t-test"
        head = f"{best} vs {other}: significant by {which} only"
    return f"{head} ({'; '.join(parts)})"


def collect(project: Project, study_id: str, failed: dict[str, str] | None = None):
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
                        "status": "failed" if reason else "not run",
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
) -> dict[str, Any]:
    with Project.open(project_path) as project:
        folder = project.study_dir(study_id)
        folder.mkdir(parents=True, exist_ok=True)
        previous = _read_json(folder / "study.json")
        failed = {**(previous.get("failed") or {}), **(failed or {})}
        study, rows = collect(project, study_id, failed)
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
        "failed": failed,
    }
    if previous.get("tune"):
        report["tune"] = previous["tune"]
    _write_json(folder / "study.json", report)
    write_table_csv(folder / "study.csv", rows, settings)
    write_stats_csv(folder / "stats.csv", statistics["pairs"])
    if final:
        from training.study_plots import write_study_plots

        write_study_plots(folder, rows, statistics["best"])
    return report


def update_tune_section(project_path: str | Path, study_id: str, tune: dict[str, Any]) -> None:
    with Project.open(project_path) as project:
        folder = project.study_dir(study_id)
    data = _read_json(folder / "study.json")
    data["tune"] = tune
    _write_json(folder / "study.json", data)


def _write_json(path: Path, data: Any) -> None:
    from training.report import write_json

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
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*CSV_COLUMNS, *settings, "fold_aucs"])
        for r in rows:
            folds = r.get("fold_aucs") or {}
            writer.writerow(
                [_cell(r.get(c)) for c in CSV_COLUMNS]
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
    "delong_n",
    "delong_auc_best",
    "delong_auc_other",
    "delong_z",
    "delong_p",
    "sentence",
]


def write_stats_csv(path: Path, pairs: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
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
