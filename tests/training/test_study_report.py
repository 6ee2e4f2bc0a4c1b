"""Studies that do not over-claim (issue 26): a difference only between models that both
learned, Holm over several pairs, the CV AUC t-interval clipped to [0, 1], "training" for the
model being trained; and the 3-class F1 columns of study.csv (issue 27). Fake finished runs:
no training."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from scipy.stats import t, ttest_rel

from medview.core.project import Project
from training.recipe import stats
from training.recipe.study_report import collect, write_study_report

# Per model: the AUCs of its 5 folds. c did not learn: its interval includes 0.5 (and its
# mean ± s.d. goes below 0).
FOLD_AUCS = {
    "a": [0.90, 0.94, 0.88, 0.93, 0.95],
    "b": [0.80, 0.86, 0.79, 0.84, 0.83],
    "c": [0.05, 0.90, 0.00, 0.10, 0.00],
    "d": [0.85, 0.86, 0.87, 0.84, 0.80],
}
Y = [0, 1] * 10


def _fake_run(project: Project, study_id: str, model: str, aucs, classes=("WT", "MUT")) -> None:
    run_id = f"{study_id}-{model}"
    project.create_run(run_id, {"model": model, "extra": {"study_id": study_id}}, model=model)
    folds = [{"fold": k, "roc_auc": auc, "f1": 0.5} for k, auc in enumerate(aucs, start=1)]
    summary = {
        "roc_auc": {"mean": float(np.mean(aucs)), "std": float(np.std(aucs, ddof=1))},
        "f1": {"mean": 0.61, "std": 0.05},
        "accuracy": {"mean": 0.7, "std": 0.1},
    }
    task = "binary" if len(classes) == 2 else "multiclass"
    metrics = {
        "task": task,
        "classes": list(classes),
        "folds": folds,
        "summary": summary,
        "test": {"roc_auc": 0.8, "accuracy": 0.7, "f1": 0.66},
    }
    run_dir = project.runs_dir / run_id
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    rng = np.random.default_rng(len(model) + int(np.mean(aucs) * 100))
    head = "item_id,fold,split,true," + ",".join(
        [f"p_{c}" for c in classes] + [f"p_{c}_raw" for c in classes]
    )
    lines = [head + ",predicted,threshold"]
    if len(classes) == 2:
        for i, y in enumerate(Y):
            p = float(np.clip(0.5 + (y - 0.5) * np.mean(aucs) + rng.normal(0, 0.3), 0, 1))
            lines.append(f"{i},0,val,{classes[y]},{1 - p},{p},{1 - p},{p},{classes[y]},0.5")
    (run_dir / "predictions.csv").write_text("\n".join(lines) + "\n")
    project.finish_run(run_id, "finished", metrics)


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "p", ["WT", "MUT"]) as project:
        models = list(FOLD_AUCS)
        spec = {"models": models, "runs": {m: f"s-{m}" for m in models}, "base": {}}
        project.create_study("s", "compare", spec)
        for model, aucs in FOLD_AUCS.items():
            _fake_run(project, "s", model, aucs)
        yield project


def test_cv_auc_interval_is_a_t_interval_over_folds_clipped_to_0_1(project):
    report = write_study_report(project.folder, "s", final=False)
    rows = {r["model"]: r for r in report["rows"]}
    a = np.asarray(FOLD_AUCS["a"])
    half = t.ppf(0.975, 4) * a.std(ddof=1) / math.sqrt(5)
    assert rows["a"]["cv_auc_ci"] == pytest.approx([a.mean() - half, a.mean() + half])
    c = np.asarray(FOLD_AUCS["c"])
    assert c.mean() - t.ppf(0.975, 4) * c.std(ddof=1) / math.sqrt(5) < 0  # unclipped: below 0
    assert rows["c"]["cv_auc_ci"][0] == 0.0 and rows["c"]["cv_auc_ci"][1] < 1.0
    assert (
        "t-interval" in report["cv_auc_ci_how"] and "clipped to [0, 1]" in report["cv_auc_ci_how"]
    )
    with (project.study_dir("s") / "study.csv").open() as fh:
        table = {r["model"]: r for r in csv.DictReader(fh)}
    assert table["c"]["cv_auc_ci_low"] == "0"
    assert len(table["a"]["cv_auc_ci_high"]) <= 8  # formatted, not 0.9300000000000002


def test_a_model_that_did_not_learn_is_not_compared(project):
    report = write_study_report(project.folder, "s", final=False)
    pairs = {p["other_label"]: p for p in report["paired"]}
    assert report["best"] == "s-a"
    assert pairs["c"]["sentence"] == (
        "a vs c: not comparable: model c did not learn (CV AUC CI includes 0.5)"
    )
    assert "significant" not in pairs["c"]["sentence"]
    assert pairs["c"]["fold_p_holm"] is None


def test_several_pairs_are_holm_adjusted_and_the_correction_is_named(project):
    report = write_study_report(project.folder, "s", final=False)
    pairs = {p["other_label"]: p for p in report["paired"]}
    raw = {m: ttest_rel(FOLD_AUCS["a"], FOLD_AUCS[m]).pvalue for m in ("b", "d")}
    low, high = sorted(raw, key=raw.get)
    # Holm by hand over the two pairs compared (c is not): 2 * smallest, then max(that, next).
    assert pairs[low]["fold_p_holm"] == pytest.approx(min(1.0, 2 * raw[low]))
    assert pairs[high]["fold_p_holm"] == pytest.approx(max(min(1.0, 2 * raw[low]), raw[high]))
    for m in ("b", "d"):
        assert pairs[m]["fold_p"] == pytest.approx(raw[m])
        assert "Holm-adjusted over 2 pairs" in pairs[m]["sentence"]
        assert stats.format_p(pairs[m]["fold_p_holm"]) in pairs[m]["sentence"]


def test_holm_matches_the_step_down_definition():
    assert stats.holm([0.01, None, 0.04, 0.03]) == pytest.approx([0.03, None, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([0.2, 0.01]) == pytest.approx([0.2, 0.02])
    assert stats.t_interval([0.7]) is None


def test_the_model_being_trained_says_training(project):
    project.create_run("s-e", {"model": "e", "extra": {"study_id": "s"}}, model="e")
    _study, rows = collect(project, "s")
    spec = project.get_study("s").spec
    project.update_study_spec("s", {**spec, "models": [*spec["models"], "e", "f"]})
    _study, rows = collect(project, "s", training="f")
    status = {r["model"]: r["status"] for r in rows}
    assert status["e"] == "training"  # its run exists and is running
    assert status["f"] == "training"  # about to start: no run yet
    assert status["a"] == "finished"


def test_three_class_study_csv_has_its_f1_columns(tmp_path):
    classes = ("A", "B", "C")
    with Project.create(tmp_path / "p3", list(classes)) as project:
        project.create_study("m", "compare", {"models": ["x"], "runs": {"x": "m-x"}, "base": {}})
        _fake_run(project, "m", "x", [0.7, 0.8, 0.75], classes)
        write_study_report(project.folder, "m", final=False)
        with (project.study_dir("m") / "study.csv").open() as fh:
            row = next(csv.DictReader(fh))
    assert row["cv_f1_mean"] == "0.61" and row["cv_f1_std"] == "0.05"
    assert row["test_f1"] == "0.66"


def test_study_statistics_read_old_and_new_prediction_columns(project):
    from training.recipe.study_stats import oof_scores

    row = {"run_id": "s-a", "classes": ["WT", "MUT"]}
    new = oof_scores(project, row)
    assert len(new) == len(Y) and all(y == Y[i] for i, (y, _) in new.items())
    path = project.runs_dir / "s-a" / "predictions.csv"
    lines = path.read_text().splitlines()
    old = ["item_id,fold,split,true,prob_WT,prob_MUT,predicted"]
    for line in lines[1:]:
        item, fold, split, true, _p0, _p1, r0, r1, pred, _t = line.split(",")
        old.append(",".join([item, fold, split, true, r0, r1, pred]))
    path.write_text("\n".join(old) + "\n")  # a run folder from before issue 26
    assert oof_scores(project, row) == new
