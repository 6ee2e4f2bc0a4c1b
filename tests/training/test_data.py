"""Preprocessing, the tensor cache, batching/sampling and augmentation (training only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from projects import make_project

from medview.core.image import Image
from training import data as D
from training.loop import Context, predict
from training.models import build_model
from training.transforms import PrepSettings, augment_batch, build_augmentation, preprocess


def test_preprocess_3d_zscore_and_size():
    img = Image(np.random.default_rng(0).normal(50, 10, (20, 30, 40)).astype(np.float32))
    out = preprocess(img, PrepSettings(3, 16, 1))
    assert out.shape == (1, 16, 16, 16) and out.dtype == np.float32
    assert abs(out.mean()) < 1e-4 and abs(out.std() - 1) < 0.05


def test_preprocess_2d_channels_and_ct_window():
    gray = Image(np.arange(64 * 48, dtype=np.float32).reshape(1, 64, 48))
    out = preprocess(gray, PrepSettings(2, 32, 3))
    assert out.shape == (3, 32, 32) and np.array_equal(out[0], out[2])
    rgb = Image(np.zeros((1, 40, 40, 4), dtype=np.uint8))
    assert preprocess(rgb, PrepSettings(2, 32, 1)).shape == (1, 32, 32)
    ct = Image(np.linspace(-2000, 2000, 16**3, dtype=np.float32).reshape(16, 16, 16))
    win = preprocess(ct, PrepSettings(3, 16, 1, ct_window=(40.0, 400.0)))
    assert win.min() == pytest.approx(-1) and win.max() == pytest.approx(1)


def test_cache_is_keyed_by_hash_and_settings(tmp_path):
    project = make_project(tmp_path, 6)
    items = project.items(labelled=True)
    prep = PrepSettings(3, 16, 1)
    first = D.load_items(project, items, prep, ["WT", "MUT"])
    assert first.cache_hits == 0 and first.x.shape == (6, 1, 16, 16, 16)
    assert list(first.y) == [0, 1, 0, 1, 0, 1]
    calls = []
    original = D._read_item
    D._read_item = lambda p, it: calls.append(it) or original(p, it)
    try:
        second = D.load_items(project, items, prep, ["WT", "MUT"])
        assert second.cache_hits == 6 and not calls  # nothing decoded again
        assert torch.equal(first.x, second.x)
        other = D.load_items(project, items, PrepSettings(3, 8, 1), ["WT", "MUT"])
        assert other.cache_hits == 0 and len(calls) == 6  # new size: new key
    finally:
        D._read_item = original
    assert prep.key("a") != prep.key("b") and prep.key("a") != PrepSettings(3, 16, 3).key("a")
    project.close()


def test_unreadable_item_is_skipped_not_fatal(tmp_path):
    project = make_project(tmp_path, 6)
    items = project.items(labelled=True)
    (tmp_path / "data" / "v002.nii.gz").write_bytes(b"garbage")
    out = D.load_items(project, items, PrepSettings(3, 16, 1), ["WT", "MUT"], use_cache=False)
    assert len(out.items) == 5 and len(out.skipped) == 1 and "v002" in out.skipped[0]
    project.close()


def test_epoch_batches_shuffle_balance_and_ddp_shards():
    g = torch.Generator().manual_seed(0)
    batches = list(D.epoch_batches(range(10), 4, g))
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    shards = [
        torch.cat(
            list(
                D.epoch_batches(
                    range(10), 5, torch.Generator().manual_seed(1), rank=r, world_size=2
                )
            )
        )
        for r in (0, 1)
    ]
    assert len(shards[0]) == len(shards[1]) == 5
    assert set(shards[0].tolist()) | set(shards[1].tolist()) == set(range(10))
    labels = torch.tensor([0] * 90 + [1] * 10)
    w = D.balanced_weights(labels)
    drawn = torch.cat(list(D.epoch_batches(range(100), 50, g, sample_weights=w)))
    assert 0.35 < labels[drawn].float().mean() < 0.65
    cw = D.class_weight_vector(labels, 2)
    assert cw[1] / cw[0] == pytest.approx(9.0)


def test_undersample_draws_balanced_epochs_of_the_minority_size():
    # 30 / 6 / 3 items of three classes, at shuffled positions
    labels = torch.tensor([0] * 30 + [1] * 6 + [2] * 3)[
        torch.randperm(39, generator=torch.Generator().manual_seed(3))
    ]
    g = torch.Generator().manual_seed(0)
    epochs = []
    for _ in range(4):
        drawn = torch.cat(
            list(D.epoch_batches(range(39), 3, g, sampler="undersample", labels=labels))
        )
        epochs.append(drawn)
        assert len(drawn) == 9 == D.epoch_size(labels, "undersample")
        assert torch.bincount(labels[drawn], minlength=3).tolist() == [3, 3, 3]
        assert len(set(drawn.tolist())) == 9  # without replacement: no item twice in an epoch
        minority = set(torch.nonzero(labels == 2).flatten().tolist())
        assert minority <= set(drawn.tolist())  # the smallest class is always all in
    majority = [frozenset(e[labels[e] == 0].tolist()) for e in epochs]
    assert len(set(majority)) > 1  # another subset of the majority class each epoch
    again = torch.Generator().manual_seed(0)
    first = torch.cat(
        list(D.epoch_batches(range(39), 3, again, sampler="undersample", labels=labels))
    )
    assert torch.equal(first, epochs[0])  # seeded: the same run draws the same epochs
    over = torch.cat(list(D.epoch_batches(range(39), 39, g, sampler="oversample", labels=labels)))
    assert len(over) == 39 and D.epoch_size(labels, "none") == 39


def test_fit_with_undersampling_trains_on_minority_sized_epochs():
    from training.config import TrainConfig
    from training.freeze import set_train_mode
    from training.loop import fit

    torch.manual_seed(0)
    y = torch.tensor([0] * 14 + [1] * 4)
    x = torch.randn(18, 1, 8, 8, 8) + y.view(-1, 1, 1, 1, 1).float()
    ctx = Context(x, y, 2, torch.device("cpu"))
    model = build_model("cnn3d_small", 2)
    cfg = TrainConfig(epochs=3, batch_size=4, lr=1e-3, sampler="undersample", auto=False,
                      scheduler="onecycle", precise_bn=False)  # fmt: skip
    train = [k for k in range(18) if k not in (0, 1, 14)]  # 12 of class 0, 3 of class 1
    result = fit(
        model,
        model,
        cfg,
        ctx,
        train,
        [0, 1, 14],
        lambda: set_train_mode(model, "cnn3d_small", "all"),
        1,
    )
    assert [row["train_samples"] for row in result.history] == [6, 6, 6]


def test_augmentation_changes_training_batches_only():
    aug = build_augmentation("strong", 3, 1, seed=0)
    batch = torch.randn(4, 1, 16, 16, 16)
    out = augment_batch(batch, aug)
    assert out.shape == batch.shape and not torch.equal(out, batch)
    assert build_augmentation("none", 2, 3, seed=0) is None
    rgb = build_augmentation("light", 2, 3, seed=0)
    assert augment_batch(torch.randn(2, 3, 32, 32), rgb).shape == (2, 3, 32, 32)

    def forbidden(sample):
        raise AssertionError("augmentation used outside training")

    model = build_model("cnn3d_small", 2).eval()
    ctx = Context(batch, torch.tensor([0, 1, 0, 1]), 2, torch.device("cpu"), augment=forbidden)
    probs = predict(model, ctx, range(4), 2)
    assert probs.shape == (4, 2) and np.allclose(probs.sum(1), 1)


def test_batch_augmentation_is_seeded_and_flips_exactly():
    x = torch.randn(16, 1, 8, 8)
    a, b = build_augmentation("strong", 2, 1, seed=5), build_augmentation("strong", 2, 1, seed=5)
    assert torch.equal(a(x), b(x))
    flips_only = build_augmentation("light", 2, 1, seed=1)
    flips_only.planes, flips_only.intensity = [], 0.0
    y = flips_only(x)
    for i in range(16):  # each sample is either untouched or mirrored left-right
        assert torch.allclose(y[i], x[i], atol=1e-5) or torch.allclose(
            y[i], x[i].flip(-1), atol=1e-5
        )


def test_precise_bn_recomputes_only_trained_layers():
    from training.freeze import freeze_encoder, set_train_mode
    from training.loop import precise_bn

    torch.manual_seed(0)
    x = torch.randn(12, 1, 16, 16, 16) * 3 + 5
    ctx = Context(x, torch.zeros(12, dtype=torch.long), 2, torch.device("cpu"))
    model = build_model("cnn3d_small", 2)
    bn = model.features[1]
    set_train_mode(model, "cnn3d_small", "all")
    precise_bn(model, ctx, range(12), 4)
    with torch.no_grad():
        acts = model.features[0](x)
    expected = acts.mean(dim=(0, 2, 3, 4))
    assert torch.allclose(bn.running_mean, expected, atol=1e-4)
    assert model.training and bn.momentum == 0.1  # modes and momentum restored
    frozen = build_model("cnn3d_small", 2)
    freeze_encoder(frozen, "cnn3d_small")
    set_train_mode(frozen, "cnn3d_small", "head")
    before = frozen.features[1].running_var.clone()
    precise_bn(frozen, ctx, range(12), 4)
    assert torch.equal(frozen.features[1].running_var, before)  # a frozen encoder keeps its stats
