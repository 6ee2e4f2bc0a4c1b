"""``medview compare PROJECT RUN RUN … --out DIR``: finished runs side by side, as the window's
Run history ▸ Compare selected shows them, written for a paper.

- ``compare.csv``: one row per run (named by ``Run.label``, as the window's table and
  legend): model, folds, each headline metric's mean and std over folds, and the test split's
  metrics when the run has one;
- ``compare_roc``: every run's mean out-of-fold ROC, the AUC in its legend (PNG + SVG);
- ``compare_metrics``: AUC and accuracy per run, mean ± std over folds (PNG + SVG).

A run that is unknown, not finished or has no metrics is left out with its reason (the rest is
compared); none left is an error. Reads run folders only (RunFolder): no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medview.core import csv_cells
from medview.core.containment import atomic_text
from medview.core.errors import MedviewError
from medview.core.output_paths import OutputPathError, make_export_folder
from medview.core.project import Project, Run
from medview.core.run_folder import RunFolder
from training.recipe.report_plots import save_figure

TABLE = "compare.csv"
ROC_PLOT = "compare_roc"
METRICS_PLOT = "compare_metrics"
METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc")
COLUMNS = (
    "run",
    "run_id",
    "model",
    "folds",
    *(f"{m}_{stat}" for m in METRICS for stat in ("mean", "std")),
    *(f"test_{m}" for m in METRICS),
)


class CompareError(MedviewError):
    """Nothing to compare, or the output folder refused."""


@dataclass
class Compared:
    runs: list[tuple[Run, dict[str, Any]]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "RUN: reason"
    files: list[Path] = field(default_factory=list)


def compare_runs(project: Project, run_ids: list[str], out_dir: str | Path) -> Compared:
    """Write the table and the plots into ``out_dir`` (created; never inside the project's
    own folders: output_paths); returns what was compared, left out and written."""
    found = _finished(project, run_ids)
    if not found.runs:
        raise CompareError("no finished run to compare: " + "; ".join(found.skipped))
    try:
        out = make_export_folder(project.folder, out_dir)
    except OutputPathError as exc:
        raise CompareError(str(exc)) from exc
    _write_table(out / TABLE, found.runs)
    _roc_plot(out / ROC_PLOT, found.runs)
    _metrics_plot(out / METRICS_PLOT, found.runs)
    stems = (ROC_PLOT, METRICS_PLOT)
    found.files = [out / TABLE, *(out / f"{s}{x}" for s in stems for x in (".png", ".svg"))]
    return found


def _finished(project: Project, run_ids: list[str]) -> Compared:
    found = Compared()
    for run_id in dict.fromkeys(run_ids):  # each run once, in the order given
        try:
            run = project.get_run(run_id)
        except MedviewError as exc:
            found.skipped.append(f"{run_id}: {exc}")
            continue
        metrics = RunFolder.of(project, run.id).read_metrics()
        if run.status != "finished":
            found.skipped.append(f"{run_id}: {run.status}, not finished")
        elif not metrics or not metrics.get("summary"):
            found.skipped.append(f"{run_id}: no metrics.json in its folder")
        else:
            found.runs.append((run, metrics))
    return found


def table_row(run: Run, metrics: dict[str, Any]) -> dict[str, Any]:
    summary, test = metrics.get("summary") or {}, metrics.get("test") or {}
    row: dict[str, Any] = {
        "run": run.label,
        "run_id": run.id,
        "model": run.model or metrics.get("model"),
        "folds": len(metrics.get("folds") or []),
    }
    for m in METRICS:
        for stat in ("mean", "std"):
            row[f"{m}_{stat}"] = (summary.get(m) or {}).get(stat)
        row[f"test_{m}"] = test.get(m)
    return row


def _write_table(path: Path, runs: list[tuple[Run, dict[str, Any]]]) -> None:
    with atomic_text(path) as fh:
        writer = csv_cells.DictWriter(fh, COLUMNS)  # run ids are user text
        writer.writeheader()
        for run, metrics in runs:
            row = table_row(run, metrics)
            writer.writerow({k: "" if row[k] is None else row[k] for k in COLUMNS})


def _roc_plot(stem: Path, runs: list[tuple[Run, dict[str, Any]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5.5))
    styles = ("-", "--", ":")  # runs often share a curve (AUC 1.0): vary the dash
    for k, (run, metrics) in enumerate(runs):
        roc = metrics.get("roc_mean")
        if not roc:
            continue
        auc = ((metrics.get("summary") or {}).get("roc_auc") or {}).get("mean")
        label = run.label + (f" (AUC {auc:.3f})" if auc is not None else "")
        ax.plot(roc["fpr"], roc["tpr_mean"], styles[k % 3], lw=2, label=label)
    ax.plot([0, 1], [0, 1], color="#999", ls=":", lw=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate")
    ax.set_title("Mean out-of-fold ROC per run")
    ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, stem, dpi=150)


def _metrics_plot(stem: Path, runs: list[tuple[Run, dict[str, Any]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [table_row(run, metrics) for run, metrics in runs]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(rows) + 2), 4.5))
    bars = ((-0.2, "roc_auc", "AUC"), (0.2, "accuracy", "accuracy"))
    for offset, metric, name in bars:
        means = [r[f"{metric}_mean"] or 0.0 for r in rows]
        stds = [r[f"{metric}_std"] or 0.0 for r in rows]
        ax.bar(x + offset, means, 0.4, yerr=stds, capsize=3, label=f"{name} (mean ± std)")
    ax.set_xticks(x, [r["run"] for r in rows], rotation=20, ha="right", fontsize=8)
    ax.set(ylim=(0, 1.18), ylabel="over folds")
    ax.legend(loc="upper center", ncol=2, fontsize=8)  # above the bars (all below 1)
    fig.tight_layout()
    save_figure(fig, stem, dpi=150)
