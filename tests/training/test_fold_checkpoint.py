"""A fold resumed from the state it had after an epoch (what a cluster worker mirrors to the
client) goes on as if it had never stopped: the same later epochs, the same kept weights."""

from __future__ import annotations

import pytest
import torch

from training.engine.batches import Context
from training.engine.freeze import set_train_mode
from training.engine.loop import fit
from training.engine.models import build_model
from training.recipe.config import TrainConfig


def _fit(x, y, **hooks):
    torch.manual_seed(1)  # the model's random start, as train_fold seeds it
    model = build_model("cnn_small", 2)
    ctx = Context(x, y, 2, torch.device("cpu"), **hooks)
    cfg = TrainConfig(epochs=3, batch_size=4, lr=3e-3, auto=False, scheduler="cosine",
                      warmup_epochs=1, ema=True, precise_bn=False)  # fmt: skip
    mode = lambda: set_train_mode(model, "cnn_small", "all")  # noqa: E731
    return fit(model, model, cfg, ctx, list(range(4, 16)), [0, 1, 2, 3], mode, 1)


def test_a_fold_resumed_after_epoch_one_ends_as_the_uninterrupted_fold():
    torch.manual_seed(0)
    y = torch.tensor([0, 1] * 8)
    x = torch.randn(16, 1, 32, 32) + 2 * y.view(-1, 1, 1, 1).float()
    states: dict[int, bytes] = {}
    whole = _fit(x, y, on_checkpoint=lambda epoch, state: states.__setitem__(epoch, state))
    assert sorted(states) == [1, 2, 3]  # one state per epoch
    trained: list[int] = []
    resumed = _fit(x, y, resume=states[1], on_epoch=lambda row: trained.append(row["epoch"]))
    assert trained == [2, 3]  # epoch 1 is not trained again...
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]  # ...and its row is kept
    for a, b in zip(whole.history, resumed.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-6)
    assert (resumed.best_epoch, resumed.epochs_run) == (whole.best_epoch, whole.epochs_run)
    for name, tensor in whole.best_state.items():
        assert torch.allclose(tensor, resumed.best_state[name], atol=1e-6), name
