"""The Training dock's session without Qt and without a worker: fake message sequences drive
it, a recorder stands in for the view (as ndv tests its controller against a mocked view)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from medview.core import messages as msg
from medview.core.project import Project
from medview.jobs.run_texts import explain_failure, format_eta, gradcam_text, predicted_text
from medview.jobs.training_session import Buttons, PlotsLayout, RunEnd, TrainingSession

SETTINGS = {"model": "cnn3d_small", "epochs": 2, "folds": 2, "holdout": False}
PLAN = msg.RunPlan(model="cnn3d_small", kind="3d", classes=["WT", "MUT"], folds=[1, 2],
                   epochs=2, items=12, device="cpu")  # fmt: skip


@dataclass
class FakePlan:
    """What the view hands over of training.plan.PlanCheck."""

    ok: bool = True
    errors: list[str] = field(default_factory=list)
    kind: str | None = "3d"
    mixed: bool = False
    counts: dict[str, int] = field(default_factory=lambda: {"WT": 6, "MUT": 6, "Other": 0})


class Recorder:
    """The view: every event, in order, with its arguments."""

    def __init__(self, session: TrainingSession) -> None:
        self.seen: list[tuple[str, tuple[Any, ...]]] = []
        for name, event in vars(session.events).items():
            event.connect(lambda *args, name=name: self.seen.append((name, args)))

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.seen if n == name]

    def last(self, name: str) -> Any:
        args = self.of(name)[-1]
        return args[0] if len(args) == 1 else args

    def statuses(self) -> list[str]:
        return [text for text, _error in self.of("status")]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.medview", ["WT", "MUT"]) as p:
        yield p


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def session(project: Project, clock: Clock) -> TrainingSession:
    s = TrainingSession(clock=clock)
    s.set_project(project)
    s.set_plan(FakePlan())
    return s


def write_run(project: Project, run_id: str, status: str = "finished", folds=(1, 2)) -> Path:
    """A run row and folder as the engine leaves them: weights per fold, metrics.json."""
    project.create_run(run_id, {"model": "cnn3d_small"}, model="cnn3d_small")
    folder = project.runs_dir / run_id
    folder.mkdir(parents=True, exist_ok=True)
    for fold in folds:
        (folder / f"fold{fold}.safetensors").write_bytes(b"")
    (folder / "metrics.json").write_text(json.dumps({"status": status, "folds": []}))
    project.finish_run(run_id, status, {})
    return folder


def epoch(fold: int, n: int, fraction: float, auc: float | None = 0.9) -> msg.Epoch:
    return msg.Epoch("r1", fold, n, 2, 0.5, 0.6, auc, 0.7, 1e-3, 1.0, 30.0, fraction)


def test_a_new_session_with_a_project_may_train_but_not_cancel(session: TrainingSession) -> None:
    assert session.buttons() == Buttons(train=True, compare=True, label_next=True)
    session.set_plan(FakePlan(ok=False, errors=["3-fold cross-validation needs 3 items"]))
    assert not session.buttons().train and not session.buttons().compare
    assert TrainingSession().buttons() == Buttons()  # no project: nothing to click


def test_start_prepares_plots_progress_and_buttons(session: TrainingSession) -> None:
    view = Recorder(session)
    config = session.begin({**SETTINGS, "threads": 1})
    assert config is not None and config["project"] == str(session.project.folder)
    assert config["threads"] == 1 and session.running
    assert view.last("plots_reset") == PlotsLayout(("WT", "MUT"), (1, 2), 2)  # no empty class
    assert view.last("progress").text == "starting the training process…"
    assert view.statuses() == ["Starting cnn3d_small…"]
    assert view.last("buttons") == Buttons(cancel=True, label_next=True)  # one run at a time
    assert session.begin(SETTINGS) is None  # a second Train while it runs starts nothing


def test_start_is_refused_with_the_plan_check_reason(session: TrainingSession) -> None:
    session.set_plan(FakePlan(ok=False, errors=["No labelled items yet"]))
    view = Recorder(session)
    assert session.begin(SETTINGS) is None and not session.running
    assert view.of("status") == [("Cannot start: No labelled items yet", True)]


def test_holdout_plans_one_fold_and_auto_names_itself(session: TrainingSession) -> None:
    view = Recorder(session)
    session.begin({**SETTINGS, "model": None, "holdout": True, "epochs": None})
    assert view.last("plots_reset") == PlotsLayout(("WT", "MUT"), (1,), 0)
    assert view.statuses() == ["Starting Auto…"]


def test_overrides_and_one_start_settings_layer_over_the_form(session: TrainingSession) -> None:
    session.overrides = {"weight_decay": 0.01}
    form = {"model": "cnn_small", "weight_decay": 0.0, "seed": 1}
    settings = session.run_settings(form, {"seed": 7, "model": "other"})
    assert settings == {"model": "other", "weight_decay": 0.01, "seed": 7}


def test_started_epoch_and_fold_messages_drive_the_progress(session: TrainingSession) -> None:
    view = Recorder(session)
    session.begin(SETTINGS)
    session.handle(msg.Progress("loading", 6, 12))
    assert view.last("progress").text == "loading 6 / 12"
    session.handle(msg.Started("r1", PLAN))
    assert session.job is not None and session.job.run_id == "r1" and session.job.state == "running"
    assert view.last("plots_planned") == PlotsLayout(("WT", "MUT"), (1, 2), 2)
    assert view.last("run_started") == ("r1", PLAN)
    assert view.statuses()[-1] == "Run r1: cnn3d_small on 12 3d items, 2 fold(s) × 2 epochs, cpu"
    session.handle(epoch(1, 1, 0.25))
    progress = view.last("progress")
    assert progress.value == 250 and progress.text == "fold 1/2 · epoch 1/2 · ETA 30 s"
    assert view.last("detail") == "loss 0.500 (val 0.600), val AUC 0.900"
    session.handle(epoch(1, 2, 0.5, auc=None))
    assert view.last("detail") == "loss 0.500 (val 0.600)"
    fold = msg.FoldDone("r1", 1, {"roc_auc": 0.9})
    session.handle(fold)
    session.handle(msg.Log("fold 1 done", "info"))
    assert view.last("fold_done") is fold and view.last("log") == ("fold 1 done", "info")
    assert [e.epoch for e in session.job.epochs] == [1, 2] and list(session.job.folds) == [1]


def test_finish_selects_the_run_and_shows_its_metrics(
    session: TrainingSession, project: Project, clock: Clock
) -> None:
    view = Recorder(session)
    session.begin(SETTINGS)
    session.handle(msg.Started("r1", PLAN))
    folder = write_run(project, "r1")
    clock.now += 125
    session.handle(msg.Finished("r1", str(folder), {"roc_auc": 0.9}))
    end: RunEnd = view.last("run_ended")
    assert end.status == "finished" and end.run_id == "r1" and end.same_project
    assert end.metrics == {"status": "finished", "folds": []} and end.selected == "r1"
    assert view.last("progress") == view.last("progress").__class__(1000, "finished in 2 min 05 s")
    assert view.statuses()[-1] == "Run r1 finished; predictions are in the item list."
    assert session.run_id == "r1" and not session.running
    assert view.last("run_label") == "Using run <b>r1</b> (cnn3d_small)"
    assert view.last("run_selected") == ("r1", False)  # the live plots stay
    assert view.last("buttons") == Buttons(True, False, True, True, True)
    assert [n for n, _ in view.seen][-1] == "run_ended"  # last: the view's state is settled
    session.handle(msg.Log("late", "info"))  # after the end: ignored
    assert view.seen[-1][0] == "run_ended"


def test_failure_explains_the_exit_code_and_keeps_the_window_usable(
    session: TrainingSession,
) -> None:
    view = Recorder(session)
    session.begin(SETTINGS)
    session.handle(msg.Started("r1", PLAN))
    session.handle(epoch(1, 1, 0.25))
    error = "the training process stopped unexpectedly (exit code -11)"
    session.handle(msg.Failed(error, "r1", "Traceback (most recent call last)"))
    end: RunEnd = view.last("run_ended")
    assert end.status == "failed" and end.error == error and "SIGSEGV" in end.hint
    assert end.traceback.startswith("Traceback") and end.selected is None
    progress = view.last("progress")
    assert progress.failed and progress.text == "failed" and progress.value == 250
    assert view.of("status")[-1] == (f"Training failed: {error}", True)
    assert view.last("log") == (error, "error")
    assert session.buttons().train and session.run_id is None  # train again; nothing to use


def test_cancel_keeps_completed_folds_usable(session: TrainingSession, project: Project) -> None:
    view = Recorder(session)
    session.begin(SETTINGS)
    session.handle(msg.Started("r1", PLAN))
    assert session.cancel() and session.job.state == "cancelling"
    assert view.last("progress").text == "cancelling after this batch…"
    assert not session.buttons().cancel and not session.buttons().train  # until it ends
    assert not session.cancel()  # asked once
    write_run(project, "r1", "cancelled", folds=(1,))
    session.handle(msg.Cancelled("r1", [1]))
    end: RunEnd = view.last("run_ended")
    assert end.status == "cancelled" and end.selected == "r1" and end.metrics is not None
    assert view.last("progress").text == "cancelled"
    assert view.statuses()[-1] == "Run r1 cancelled; completed folds are kept."
    assert session.buttons().train and session.buttons().predict


def test_cancel_before_any_fold_selects_nothing(session: TrainingSession) -> None:
    view = Recorder(session)
    session.begin(SETTINGS)
    session.handle(msg.Started("r1", PLAN))
    session.cancel()
    session.handle(msg.Cancelled("r1"))
    end: RunEnd = view.last("run_ended")
    assert end.selected is None and end.metrics is None and session.run_id is None
    assert not session.buttons().predict


def test_a_second_project_resets_and_picks_its_last_usable_run(
    session: TrainingSession, tmp_path: Path
) -> None:
    with Project.create(tmp_path / "q.medview", ["A", "B"]) as other:
        write_run(other, "old", "finished")
        write_run(other, "newer", "cancelled")
        write_run(other, "no-weights", "finished", folds=())
        write_run(other, "broken", "failed")
        session.use_run("x")
        view = Recorder(session)
        session.set_project(other)
        assert view.of("plots_reset")[0] == (PlotsLayout(),)  # the old run's plots go
        assert view.of("run_label")[0] == ("No finished run yet.",)
        assert session.run_id == "newer" and view.last("run_selected") == ("newer", True)
        assert view.last("run_label") == "Using run <b>newer</b> (cnn3d_small)"
        session.set_project(None)
        assert session.run_id is None and session.buttons() == Buttons()


def test_a_run_ending_after_a_project_switch_selects_nothing_there(
    session: TrainingSession, project: Project, tmp_path: Path
) -> None:
    session.begin(SETTINGS)
    session.handle(msg.Started("r1", PLAN))
    with Project.create(tmp_path / "q.medview", ["A", "B"]) as other:
        view = Recorder(session)
        session.set_project(other)
        assert not view.of("plots_reset")  # the running run's live plots stay
        folder = write_run(project, "r1")
        session.handle(msg.Finished("r1", str(folder)))
        end: RunEnd = view.last("run_ended")
        assert not end.same_project and end.selected is None and session.run_id is None
        assert end.metrics is not None  # the plots still show how the run ended
        assert session.buttons().train


def test_deleting_the_used_run_clears_it(session: TrainingSession, project: Project) -> None:
    write_run(project, "r0")
    session.use_run("r0")
    view = Recorder(session)
    assert not session.runs_deleted(["other"]) and session.run_id == "r0"
    assert session.runs_deleted(["r0", "other"]) and session.run_id is None
    assert view.last("run_label") == "No finished run selected."
    assert view.last("plots_reset") == PlotsLayout() and not session.buttons().predict


def test_side_jobs_run_one_at_a_time_with_the_used_run(
    session: TrainingSession, project: Project
) -> None:
    assert session.side_config("Predicting", {"items": "unlabelled"}) is None  # no run yet
    write_run(project, "r0")
    session.use_run("r0")
    view = Recorder(session)
    config = session.side_config("Computing Grad-CAM", {"item_id": 3})
    assert config == {
        "project": str(project.folder),
        "run_id": "r0",
        "threads": 1,
        "item_id": 3,
    }
    session.side_started()
    assert view.statuses() == ["Computing Grad-CAM…"] and not session.buttons().predict
    assert session.side_config("Predicting", {}) is None  # one at a time
    session.side_ended(msg.Failed("no such layer"))
    assert view.of("status")[-1] == ("Computing Grad-CAM failed: no such layer", True)
    assert session.buttons().predict
    session.side_config("Predicting", {})
    session.side_ended(msg.Finished("r0", summary={"predicted": 3}))
    assert view.of("status")[-1][0] == "Computing Grad-CAM failed: no such layer"  # no new one


def test_a_study_blocks_train_compare_and_tune(session: TrainingSession) -> None:
    session.set_study_running(True)
    assert not session.buttons().train and not session.buttons().compare
    assert session.buttons().label_next
    session.set_study_running(False)
    assert session.buttons().train


def test_messages_of_a_job_not_begun_are_ignored(session: TrainingSession) -> None:
    view = Recorder(session)
    session.handle(msg.Started("r1", PLAN))
    session.handle(msg.Finished("r1"))
    assert view.seen == []


def test_the_session_imports_no_qt_and_no_engine() -> None:
    import subprocess

    code = (
        "import sys, medview.jobs.training_session\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'pyqtgraph', 'torch', 'training')]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_failures_are_explained() -> None:
    assert "memory" in explain_failure("stopped unexpectedly (exit code -9)")
    assert "SIGSEGV" in explain_failure("stopped unexpectedly (exit code -11)")
    assert "log.txt" in explain_failure("stopped unexpectedly (exit code 3)")
    assert "batch size" in explain_failure("the GPU ran out of memory: lower --batch-size")
    assert explain_failure("ValueError: bad") == ""


def test_format_eta() -> None:
    assert format_eta(None) == "estimating…"
    assert format_eta(42.4) == "42 s"
    assert format_eta(125) == "2 min 05 s"
    assert format_eta(3 * 3600 + 60) == "3 h 01 min"


def test_side_job_results_in_words() -> None:
    done = msg.Finished("r0", summary={"predicted": 3})
    assert predicted_text(done) == (3, "Predicted 3 unlabelled item(s) with run r0.")
    cam = msg.Finished("r0", summary={"predicted": "MUT", "probabilities": [0.2, 0.8]})
    assert gradcam_text("v01.nii.gz", cam) == "Grad-CAM of v01.nii.gz: predicted MUT (P 0.80)"
    assert gradcam_text("a", msg.Finished("r0", summary={"predicted": "WT"})) == (
        "Grad-CAM of a: predicted WT"
    )
