"""--early-stopping auc|loss: what "better" means for patience and for the epoch a fold keeps."""

from __future__ import annotations

import json

import pytest
from projects import make_project

from medview.core.run_folder import RunFolder
from training.early_stopping import EarlyStopping

# (epoch, val AUC, val loss): AUC keeps rising while the loss turns up after epoch 2.
EPOCHS = [(1, 0.70, 0.60), (2, 0.80, 0.40), (3, 0.85, 0.55), (4, 0.90, 0.70), (5, 0.91, 0.90)]


def _run(metric: str, patience: int = 0) -> EarlyStopping:
    stopping = EarlyStopping(patience=patience, min_epochs=1, metric=metric)
    for epoch, auc, loss in EPOCHS:
        stopping.update(epoch, auc, loss)
        if stopping.should_stop(epoch):
            break
    return stopping


def test_auc_keeps_the_best_auc_and_loss_the_lowest_loss() -> None:
    assert _run("auc").best_epoch == 5
    assert _run("loss").best_epoch == 2
    assert _run("loss", patience=2).since_best == 2  # stopped at epoch 4
    assert _run("auc", patience=2).since_best == 0  # never stopped: AUC still improves


def test_ties_are_broken_by_the_other_metric() -> None:
    by_loss = EarlyStopping(patience=0, min_epochs=1, metric="loss")
    by_loss.update(1, 0.7, 0.5)
    assert by_loss.update(2, 0.9, 0.5)  # same loss, higher AUC: better
    by_auc = EarlyStopping(patience=0, min_epochs=1)
    by_auc.update(1, None, 0.5)  # AUC undefined: the loss decides
    assert by_auc.update(2, None, 0.4)


@pytest.mark.slow
def test_a_run_keeps_the_epoch_with_the_lowest_validation_loss(tmp_path, monkeypatch) -> None:
    from training import loop
    from training.api import run_training
    from training.config import TrainConfig

    made: list[EarlyStopping] = []

    def spy(*args, **kw):
        made.append(EarlyStopping(*args, **kw))
        return made[-1]

    monkeypatch.setattr(loop, "EarlyStopping", spy)
    project = make_project(tmp_path, n=12)
    folder = project.folder
    project.close()
    cfg = TrainConfig(
        project=str(folder), model="cnn3d_small", size=16, epochs=4, folds=2, batch_size=4,
        threads=1, device="cpu", auto=False, early_stopping="loss", run_id="es",
        predict_unlabelled=False,
    )  # fmt: skip
    out = run_training(cfg)
    assert out.status == "finished", out.error
    assert [s.metric for s in made] == ["loss", "loss"]  # each fold's bookkeeping
    metrics = json.loads((folder / "runs" / "es" / "metrics.json").read_text())
    history = RunFolder(folder / "runs" / "es").read_history()
    for fm in metrics["folds"]:
        rows = [r for r in history if int(r["fold"]) == fm["fold"]]
        lowest = min(rows, key=lambda r: (float(r["val_loss"]), -float(r["val_auc"] or 0)))
        assert fm["best_epoch"] == int(lowest["epoch"])
