"""The best epoch and the stop decision of a fold (training.early_stopping)."""

from __future__ import annotations

from training.early_stopping import EarlyStopping


def test_higher_auc_wins_and_lower_loss_breaks_ties() -> None:
    stopping = EarlyStopping(patience=None, min_epochs=1)
    assert stopping.update(1, 0.70, 0.60)
    assert stopping.update(2, 0.80, 0.90)  # higher AUC, though the loss is worse
    assert not stopping.update(3, 0.80, 0.95)  # same AUC, worse loss
    assert stopping.update(4, 0.80, 0.50)  # same AUC, better loss
    assert stopping.best_epoch == 4


def test_loss_decides_alone_when_auc_is_undefined() -> None:
    stopping = EarlyStopping(patience=None, min_epochs=1)
    assert stopping.update(1, None, 0.9)
    assert stopping.update(2, None, 0.5)
    assert not stopping.update(3, None, 0.7)
    assert stopping.update(4, 0.6, 2.0)  # any defined AUC beats an undefined one
    assert stopping.best_epoch == 4


def test_stops_after_patience_epochs_without_a_better_one_but_not_before_min_epochs() -> None:
    stopping = EarlyStopping(patience=2, min_epochs=5)
    stops = []
    for epoch, auc in enumerate([0.9, 0.8, 0.8, 0.8, 0.8, 0.8], start=1):
        stopping.update(epoch, auc, 0.5)
        stops.append(stopping.should_stop(epoch))
    # No improvement after epoch 1: patience is used up at epoch 3, min_epochs holds until 5.
    assert stops == [False, False, False, False, True, True]
    assert stopping.best_epoch == 1


def test_no_patience_trains_every_epoch() -> None:
    stopping = EarlyStopping(patience=0, min_epochs=1)
    stopping.update(1, 0.9, 0.1)
    for epoch in range(2, 20):
        stopping.update(epoch, 0.1, 9.0)
        assert not stopping.should_stop(epoch)
