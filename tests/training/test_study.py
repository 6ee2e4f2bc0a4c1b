"""Model studies end to end on a tiny generated 2D project: three models on two shared folds,
the study table/CSV/plots, the database links, cancel and resume keeping finished runs."""

from __future__ import annotations

import csv
import json

import pytest
from projects import make_project
from synth import install_fallback_reader

from medview.core import messages as msg
from medview.core.errors import MedviewError
from medview.core.project import Project
from training.config import TrainConfig
from training.study import parse_models, run_study

MODELS = ["cnn_small", "mobilenet_v2", "resnet18"]
# Several tiny runs each (~10 s of CPU per run on a busy machine): the module is slow.
slow = pytest.mark.slow


def _cfg(folder, **kw) -> TrainConfig:
    base = dict(
        project=str(folder),
        folds=2,
        epochs=1,
        batch_size=4,
        size=16,
        augment="none",
        threads=2,
        precise_bn=False,
        predict_unlabelled=False,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    install_fallback_reader()
    tmp = tmp_path_factory.mktemp("study")
    project = make_project(tmp, 16, kind="2d", size=16, test=4)
    folder = project.folder
    project.close()
    events: list[msg.Message] = []
    outcome = run_study(_cfg(folder), MODELS, events.append, study_id="s1")
    return folder, outcome, events


@slow
def test_runs_share_identical_folds(study):
    folder, outcome, _ = study
    assert outcome.status == "finished", outcome.failed
    plans = []
    for model in MODELS:
        metrics = json.loads((folder / "runs" / f"s1-{model}" / "metrics.json").read_text())
        assert metrics["model"] == model
        plans.append(metrics["split_plan"])
    assert len(plans[0]["folds"]) == 2
    assert plans[0]["folds"][0]["val"]  # a real split, not two empty ones
    assert plans[1] == plans[0] and plans[2] == plans[0]
    configs = [
        json.loads((folder / "runs" / f"s1-{m}" / "config.json").read_text()) for m in MODELS
    ]
    for key in ("seed", "folds", "epochs", "size", "lr", "batch_size", "augment"):
        assert len({json.dumps(c[key]) for c in configs}) == 1, key


@slow
def test_runs_know_their_study_and_stay_ordinary_runs(study):
    folder, _, _ = study
    with Project.open(folder) as project:
        runs = project.study_runs("s1")
        assert sorted(r.model for r in runs) == sorted(MODELS)
        assert all(r.study_id == "s1" and r.status == "finished" for r in runs)
        assert {r.id for r in project.runs()} >= {r.id for r in runs}  # in the run history
        assert project.predictions("s1-cnn_small")  # predictions stored like any run
        from training.export import export_run

        files = export_run(project, "s1-resnet18", folder.parent / "export")
        assert any(str(f).endswith("metrics.json") for f in files)  # export works on it
        s = project.get_study("s1")
        assert s.kind == "compare" and s.status == "finished"
        assert s.spec["models"] == MODELS


@slow
def test_table_and_csv_hold_every_model(study):
    folder, outcome, events = study
    sdir = folder / "runs" / "s1"
    report = json.loads((sdir / "study.json").read_text())
    assert [r["model"] for r in report["rows"]] == MODELS
    for r in report["rows"]:
        assert r["cv_auc_mean"] is not None and r["parameters"] > 0 and r["macs"] > 0
        assert r["seconds_per_epoch"] > 0 and r["total_seconds"] > 0
        assert r["test_auc"] is not None
    with (sdir / "study.csv").open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["model"] for r in table] == MODELS
    assert all(r["cv_auc_mean"] and r["macs"] and r["fold_aucs"].count(";") == 1 for r in table)
    # paired statistics: the best against both others, each with both tests and a sentence
    assert len(report["paired"]) == 2
    for pair in report["paired"]:
        assert pair["best"] == report["best"]
        assert pair["fold_test"] == "paired t-test on per-fold AUCs"
        assert pair["delong_n"] == 16
        assert "vs" in pair["sentence"] and "DeLong" in pair["sentence"]
    for name in ("roc", "auc_vs_macs"):
        assert (sdir / f"{name}.png").stat().st_size > 1000
        assert (sdir / f"{name}.svg").exists()
    assert (sdir / "stats.csv").read_text().count("\n") == 3
    # the job's messages: one study start, one terminal message, per-run ends as log lines
    assert isinstance(events[0], msg.Started) and events[0].plan.study_id == "s1"
    assert [e.type for e in events if e.terminal] == ["finished"]
    assert events[-1].run_id == "s1"


@slow
def test_cancel_then_resume_keeps_finished_runs(tmp_path):
    install_fallback_reader()
    project = make_project(tmp_path, 12, kind="2d", size=16)
    folder = project.folder
    project.close()
    finished: list[str] = []

    def emit(m):
        if isinstance(m, msg.Log) and "finished" in m.text:
            finished.append(m.text)

    # cancel as soon as the first model's run has finished
    outcome = run_study(
        _cfg(folder), ["cnn_small", "resnet18"], emit, lambda: bool(finished), study_id="c1"
    )
    assert outcome.status == "cancelled"
    with Project.open(folder) as p:
        assert p.get_study("c1").status == "cancelled"
        first = p.get_run("c1-cnn_small")
        assert first.status == "finished"
    events: list[msg.Message] = []
    again = run_study(_cfg(folder), None, events.append, resume="c1")
    assert again.status == "finished"
    with Project.open(folder) as p:
        runs = {r.model: r for r in p.study_runs("c1")}
        assert runs["cnn_small"].started_at == first.started_at  # kept, not retrained
        assert runs["resnet18"].status == "finished"
    assert any("kept" in getattr(e, "text", "") for e in events)


def test_bad_model_lists_are_refused():
    with pytest.raises(MedviewError, match="at least two"):
        parse_models("cnn_small")
    with pytest.raises(MedviewError, match="unknown"):
        parse_models("cnn_small,alexnet")
    with pytest.raises(MedviewError, match="one kind"):
        parse_models("cnn_small,cnn3d_small")
