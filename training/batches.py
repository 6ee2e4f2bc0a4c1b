"""The data side of training a model: the ``Context`` (data, device, callbacks, DDP rank),
batches on the device (index selections from memory or the GPU copy, or a streamed run's
prefetched batches), prediction in eval mode, and the BatchNorm recalibration.

Speed notes: on CUDA the data is moved to the GPU once when it fits, else pinned batches are
copied with ``non_blocking``; channels-last where it is faster (2D on CUDA, 3D on the CPU).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from training.model_specs import spec
from training.optimisation import probabilities
from training.stream_loader import stream_batches, upload_store
from training.stream_shards import StreamStore
from training.transforms import augment_batch

PRECISE_BN_SAMPLES = 256  # items per BatchNorm recalibration: bounds its cost on large sets
PRECISE_BN_MIN = 16  # ... and at least this many (or all) on small ones


def precise_bn_count(n_train: int) -> int:
    """Training items the BatchNorm recalibration before each evaluation passes over: half
    of them, within PRECISE_BN_MIN..PRECISE_BN_SAMPLES. A forward pass costs about a third of a
    training step, so over every item the recalibration added a third to each epoch of a small
    set; over half, a sixth (the example's 3D half: the same fold accuracy, docs/auto.md)."""
    return min(n_train, PRECISE_BN_SAMPLES, max(PRECISE_BN_MIN, n_train // 2))


@dataclass
class Context:
    """What the loop needs besides the model: data, device, callbacks, DDP rank."""

    x: torch.Tensor
    y: torch.Tensor
    n_classes: int
    device: torch.device
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
    should_cancel: Callable[[], bool] = lambda: False
    on_epoch: Callable[[dict[str, Any]], None] | None = None
    rank: int = 0
    world_size: int = 1
    x_device: torch.Tensor | None = None  # the whole set already on the GPU, when it fits
    tta: bool = False  # predictions average the input and its left-right flip
    store: StreamStore | None = None  # a streamed run's items (``x`` is then empty)

    @property
    def binary(self) -> bool:
        return self.n_classes == 2


def stage_data(ctx: Context) -> None:
    """On CUDA, upload the whole data set once when it fits comfortably: no per-batch copies,
    and augmentation then runs on the GPU too (MONAI's transforms accept CUDA tensors)."""
    if ctx.device.type != "cuda":
        return
    free, _total = torch.cuda.mem_get_info(ctx.device)
    if ctx.store is not None:
        if len(ctx.store) * 4 * int(np.prod(ctx.store.item_shape)) < 0.25 * free:
            ctx.x_device = upload_store(ctx.store, ctx.device)
        return
    if ctx.x.numel() * ctx.x.element_size() < 0.25 * free:
        ctx.x_device = ctx.x.to(ctx.device)


def batches(
    ctx: Context, index_batches: Iterable[torch.Tensor], train: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(indices, model inputs) for each index batch: index selections from memory (or from
    the GPU copy), or a streamed run's prefetched batches; training batches augmented."""
    if ctx.store is None or ctx.x_device is not None:
        for idx in index_batches:
            yield idx, _batch(ctx, idx, train)
        return
    augment = ctx.augment if train else None
    for idx, batch in stream_batches(ctx.store, index_batches, ctx.device, augment):
        yield idx, batch


def _batch(ctx: Context, idx: torch.Tensor, train: bool) -> torch.Tensor:
    cuda = ctx.device.type == "cuda"
    if ctx.x_device is not None:
        batch = ctx.x_device[idx.to(ctx.device)]
        if train:
            batch = augment_batch(batch, ctx.augment)
    else:
        batch = ctx.x[idx]
        if train:
            batch = augment_batch(batch, ctx.augment)
        if cuda:
            batch = batch.pin_memory()  # lets the copy below overlap with compute
        batch = batch.to(ctx.device, non_blocking=True)
    # Half-precision stores (slice mode, training/slice_data.py) become float32 per batch.
    # The layout stays: the model's weights choose it (fast_memory_format).
    return batch.float()


def fast_memory_format(model_name: str, ndim: int, device: torch.device) -> Any:
    """The weight layout a model trains fastest in here (bench/memory_layout.py), or None for
    PyTorch's default. Convolutions follow a channels-last weight whatever the input's layout,
    so the model alone decides. Channels-last: 2D on CUDA (with AMP) and on the CPU (1.2-1.6x
    for cnn_small, mobilenet_v2, efficientnet_b0; no 2D model slower); 3D on the CPU for
    cnn3d_small (1.4x), not for MedicalNet (0.6-0.7x at 32 voxels, measured; 1.08x at 64).
    3D on CUDA keeps the default layout (not measured)."""
    if ndim == 2 and device.type in ("cpu", "cuda"):
        return torch.channels_last
    if ndim == 3 and device.type == "cpu" and spec(model_name).family != "medicalnet":
        return torch.channels_last_3d
    return None


def model_to_fast_layout(
    model: nn.Module, model_name: str, ndim: int, device: torch.device
) -> nn.Module:
    """``model`` (already on ``device``) with its weights in ``fast_memory_format``."""
    fmt = fast_memory_format(model_name, ndim, device)
    return model if fmt is None else model.to(memory_format=fmt)


def precise_bn(model: nn.Module, ctx: Context, indices: Sequence[int], batch_size: int) -> None:
    """Recompute the BatchNorm running statistics of the layers being trained with one
    no-grad pass over (a sample of) the training items, as an exact average.

    Why: with few batches per epoch (small medical data sets) the running averages that eval
    mode uses lag far behind the weights; a fresh 3D ResNet then predicts one class for every
    validation item (accuracy 0.5, validation loss rising) although it separates them in
    train mode. Layers of a frozen encoder (in eval mode) keep their pretrained statistics.
    """
    layers = [
        m
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats and m.training
    ]
    if not layers:
        return
    idx = torch.as_tensor(list(indices), dtype=torch.long)
    if len(idx) < 2:
        return
    momenta = [m.momentum for m in layers]
    was_training = model.training
    model.eval()  # dropout off; only the chosen BatchNorm layers collect statistics
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # None: a cumulative (exact) average over this pass
        m.train()
    amp = ctx.device.type == "cuda"
    chunks = (idx[s : s + batch_size] for s in range(0, len(idx), batch_size))
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
        for _, inputs in batches(ctx, (c for c in chunks if len(c) > 1), train=False):
            model(inputs)
    for m, momentum in zip(layers, momenta, strict=True):
        m.momentum = momentum
    model.train(was_training)


def predict_logits(
    model: nn.Module, ctx: Context, indices: Sequence[int], batch_size: int
) -> torch.Tensor:
    """Raw outputs on the CPU (float32), model in eval mode, no augmentation."""
    model.eval()
    idx = torch.as_tensor(list(indices), dtype=torch.long)
    out = []
    amp = ctx.device.type == "cuda"
    chunks = (idx[s : s + batch_size] for s in range(0, len(idx), batch_size))
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
        for _, inputs in batches(ctx, chunks, train=False):
            logits = model(inputs).float()
            if ctx.tta:  # the mean logit of the item and its mirror image (last axis)
                logits = (logits + model(torch.flip(inputs, dims=[-1])).float()) / 2
            out.append(logits.cpu())
    if not out:
        return torch.zeros((0, 1 if ctx.binary else ctx.n_classes))
    return torch.cat(out)


def predict(model: nn.Module, ctx: Context, indices: Sequence[int], batch_size: int) -> np.ndarray:
    """(n, n_classes) probabilities (binary: [1 - p, p])."""
    logits = predict_logits(model, ctx, indices, batch_size)
    return probabilities(logits, ctx.binary).numpy().astype(np.float64)
