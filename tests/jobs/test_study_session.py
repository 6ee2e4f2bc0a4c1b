"""The study window's session without Qt and without a worker: fake message sequences of a
study's or search's job drive it, a recorder stands in for the view."""

from __future__ import annotations

from typing import Any

from medview.core import messages as msg
from medview.jobs.study_session import BestSettings, StudyProgress, StudySession

STUDY = msg.RunPlan(kind="compare", study_id="s1", models=["cnn_small", "resnet18"])


class Recorder:
    """The view: every event, in order, with its arguments."""

    def __init__(self, session: StudySession) -> None:
        self.seen: list[tuple[str, tuple[Any, ...]]] = []
        for name, event in vars(session.events).items():
            event.connect(lambda *args, name=name: self.seen.append((name, args)))

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.seen if n == name]


def epoch(run_id: str, fold: int, n: int, auc: float | None = 0.75) -> msg.Epoch:
    return msg.Epoch(run_id=run_id, fold=fold, epoch=n, epochs=2, train_loss=0.6, val_loss=0.7,
                     val_auc=auc)  # fmt: skip


def started_study() -> tuple[StudySession, Recorder]:
    session = StudySession(running=True)
    seen = Recorder(session)
    session.handle(msg.Started(run_id="", plan=STUDY))
    return session, seen


def test_a_study_is_followed_from_its_start_to_its_end() -> None:
    session, seen = started_study()
    assert session.state == "running" and session.study_id == "s1" and session.kind == "compare"
    assert session.planned == ["cnn_small", "resnet18"] and seen.of("title") == [("s1",)]
    session.handle(msg.Started(run_id="s1-cnn_small", plan=msg.RunPlan(model="cnn_small")))
    assert session.training_run == "s1-cnn_small"
    assert session.status == "training cnn_small (run s1-cnn_small)"
    session.handle(msg.Progress(stage="loading", done=3, total=10))  # the run's own data loading
    assert session.progress == StudyProgress(0, "starting…")
    session.handle(epoch("s1-cnn_small", 1, 1))
    assert session.status == "run s1-cnn_small: fold 1, epoch 1/2, val AUC 0.750"
    session.handle(epoch("s1-cnn_small", 1, 2, auc=None))
    assert session.status == "run s1-cnn_small: fold 1, epoch 2/2"
    session.handle(msg.FoldDone(run_id="s1-cnn_small", fold=1))
    session.handle(msg.Log(text="fold 2 of cnn_small"))
    assert session.log == ["fold 2 of cnn_small"] and session.status == "fold 2 of cnn_small"
    run = session.runs["s1-cnn_small"]
    assert (run.model, run.epochs, run.folds) == ("cnn_small", 2, [1])
    session.handle(msg.Progress(stage="study", done=1, total=2))
    assert session.progress == StudyProgress(500, "1 of 2 models done")
    assert (session.done, session.total) == (1, 2)
    session.handle(msg.Started(run_id="s1-resnet18", plan=msg.RunPlan(model="resnet18")))
    assert list(session.runs) == ["s1-cnn_small", "s1-resnet18"]
    refreshes = len(seen.of("refresh"))
    session.handle(msg.Finished(run_id=""))
    assert session.state == "finished" and session.ended and not session.running
    assert session.progress == StudyProgress(1000, "finished")
    assert session.training_run is None  # no row says "training" any more
    assert seen.of("ended") == [("finished",)] and len(seen.of("refresh")) == refreshes + 1
    session.handle(msg.Log(text="late"))  # an ended job has said all
    assert session.log == ["fold 2 of cnn_small"] and not session.cancel()


def test_a_failed_study_says_why_and_keeps_its_progress() -> None:
    session, seen = started_study()
    session.handle(msg.Progress(stage="study", done=1, total=4))
    session.handle(msg.Failed(error="out of memory"))
    assert session.state == "failed" and session.error == "out of memory"
    assert session.status == "the study failed: out of memory"
    assert session.progress == StudyProgress(250, "failed")
    assert seen.of("ended") == [("failed",)]


def test_a_cancelled_study_stops_after_the_batch_and_no_row_stays_training() -> None:
    session, seen = started_study()
    session.handle(msg.Started(run_id="s1-resnet18", plan=msg.RunPlan(model="resnet18")))
    row = {"run_id": "s1-resnet18", "status": "not run"}
    assert session.row_status(row) == "training"
    assert session.row_status({"run_id": "s1-resnet18", "status": "finished"}) == "finished"
    assert session.cancel() and session.state == "cancelling" and session.running
    assert session.status == "cancelling after this batch; finished runs are kept"
    assert not session.cancel()  # asked once
    session.handle(epoch("s1-resnet18", 1, 1))  # the batch in progress still reports
    assert session.runs["s1-resnet18"].epochs == 1
    session.handle(msg.Cancelled())
    assert session.state == "cancelled" and session.progress.text == "cancelled"
    assert session.row_status(row) == "not run"
    assert seen.of("ended") == [("cancelled",)]


def test_a_shown_study_takes_no_cancel_and_reads_its_rows() -> None:
    session = StudySession("s2")
    assert session.state == "idle" and not session.running and not session.ended
    assert not session.cancel()
    rows = [{"run_id": "s2-a", "status": "finished"}]
    session.show({"kind": "compare", "status": "running"}, rows, "finished")
    assert session.report["status"] == "finished"  # the database's, not study.json's
    assert session.rows == rows
    session.unreadable("no study.json")
    assert session.status == "cannot read the study: no study.json"


def test_a_search_counts_trials_and_gives_its_best_settings_to_the_form() -> None:
    session = StudySession(running=True)
    session.handle(msg.Started(run_id="", plan=msg.RunPlan(kind="tune", study_id="t1")))
    session.handle(msg.Progress(stage="tune", done=3, total=20))
    assert session.progress == StudyProgress(150, "3 of 20 trials done")
    assert session.apply_best() is None  # no finished trial yet
    best = {"lr": 0.0042, "batch_size": 16, "augment": "strong", "weight_decay": 1e-4,
            "model": "cnn_small"}  # fmt: skip
    session.show({"kind": "tune", "tune": {"best_settings": best}}, [], "running")
    applied = session.apply_best()
    assert applied == BestSettings(
        form={"lr": 0.0042, "batch_size": 16, "augment": "strong", "model": "cnn_small"},
        extra={"weight_decay": 1e-4},
        log_line="Best settings of search t1 applied: learning rate 0.0042, batch size 16, "
        "augmentation strong, weight decay 0.0001, model cnn_small",
    )
    assert session.status == "best settings applied to the training form"
