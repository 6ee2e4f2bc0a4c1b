"""Preprocessing (once per item, cached) and augmentation (training batches only).

Preprocessing turns an ``Image`` into a float32 channel-first array at the model's size:
resize to a cube (3D) or square (2D), then a CT window or a per-item z-score, then the channel
count the model wants (gray -> 3 channels for ImageNet-style 2D models, RGB -> gray for 3D).
It runs once per item per run (and is cached on disk), so no epoch re-decodes a file.

Augmentation uses MONAI array transforms on one sample at a time; it is applied to training
batches only, never to validation, test or prediction inputs.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from medview.core.image import Image

PREP_VERSION = 1  # bump when preprocessing changes, so old cache entries are not reused


@dataclass(frozen=True)
class PrepSettings:
    ndim: int  # 2 or 3 spatial dims
    size: int
    channels: int
    ct_window: tuple[float, float] | None = None

    def key(self, content_hash: str) -> str:
        """Cache key: the item's content hash plus everything that changes the tensor."""
        payload = json.dumps({"v": PREP_VERSION, "hash": content_hash, **asdict(self)})
        return hashlib.sha1(payload.encode()).hexdigest()

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.channels,) + (self.size,) * self.ndim


def preprocess(image: Image, prep: PrepSettings) -> np.ndarray:
    """One image -> float32 array of ``prep.shape``."""
    data = np.asarray(image.array, dtype=np.float32)
    if data.ndim == 3:
        data = data[..., np.newaxis]
    data = data[..., :3]  # drop alpha: it carries no class information
    if prep.ndim == 2:
        if data.shape[0] != 1:  # a volume given to a 2D model: use its middle slice
            data = data[data.shape[0] // 2 : data.shape[0] // 2 + 1]
        array = torch.from_numpy(np.ascontiguousarray(data[0].transpose(2, 0, 1)))  # (c, y, x)
    else:
        array = torch.from_numpy(np.ascontiguousarray(data.mean(axis=-1)))[None]  # (1, z, y, x)
    if prep.ndim == 2 and prep.channels == 1 and array.shape[0] == 3:
        array = array.mean(dim=0, keepdim=True)
    array = torch.nan_to_num(array)
    array = _resize(array, prep.ndim, prep.size)
    array = _normalise(array, prep.ct_window)
    if array.shape[0] == 1 and prep.channels == 3:
        array = array.expand(3, *array.shape[1:])
    return np.ascontiguousarray(array.numpy(), dtype=np.float32)


def _resize(array: torch.Tensor, ndim: int, size: int) -> torch.Tensor:
    target = (size,) * ndim
    if tuple(array.shape[1:]) == target:
        return array
    if ndim == 2:
        out = F.interpolate(array[None], size=target, mode="bilinear", antialias=True)
    else:
        # Trilinear has no anti-aliasing; average-pool first when shrinking a lot (a 512-px CT
        # to 96 px) so thin structures are averaged rather than skipped.
        factors = [max(1, math.floor(s / size)) for s in array.shape[1:]]
        batch = array[None]
        if any(f > 1 for f in factors):
            batch = F.avg_pool3d(batch, kernel_size=factors, stride=factors)
        out = F.interpolate(batch, size=target, mode="trilinear", align_corners=False)
    return out[0]


def _normalise(array: torch.Tensor, ct_window: tuple[float, float] | None) -> torch.Tensor:
    if ct_window is not None:
        level, width = ct_window
        low = level - width / 2
        return ((array.clamp(low, low + width) - low) / max(width, 1e-6)) * 2 - 1
    mean = array.mean()
    std = array.std()
    return (array - mean) / (std if std > 1e-6 else 1.0)


# ---------------------------------------------------------------------- augmentation
def build_augmentation(
    preset: str, ndim: int, channels: int, seed: int
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A per-sample transform for ``preset`` (None for ``"none"``), seeded for repeatability."""
    if preset == "none":
        return None
    from monai import transforms as mt
    from monai.data import set_track_meta

    set_track_meta(False)  # plain tensors out: MetaTensor bookkeeping costs time per sample
    angle = math.radians(15)
    strong = preset == "strong"
    steps: list = []
    if ndim == 2:
        steps.append(mt.RandFlip(prob=0.5, spatial_axis=1))
        if strong:
            steps.append(mt.RandFlip(prob=0.5, spatial_axis=0))
        steps.append(mt.RandRotate(range_x=angle, prob=0.5, padding_mode="zeros"))
    else:
        steps.append(mt.RandFlip(prob=0.5, spatial_axis=2))
        if strong:
            steps += [mt.RandFlip(prob=0.5, spatial_axis=a) for a in (0, 1)]
        rng = angle if strong else 0.0
        steps.append(
            mt.RandRotate(range_x=rng, range_y=rng, range_z=angle, prob=0.5, padding_mode="zeros")
        )
    if strong:
        steps.append(mt.RandZoom(min_zoom=0.85, max_zoom=1.15, prob=0.5, keep_size=True))
        steps.append(mt.RandGaussianNoise(prob=0.3, std=0.05))
    shift, scale = (0.2, 0.2) if strong else (0.1, 0.1)
    steps.append(mt.RandScaleIntensity(factors=scale, prob=0.5))
    steps.append(mt.RandShiftIntensity(offsets=shift, prob=0.5))
    if channels == 3:
        # Colour jitter: independent small gain and offset per channel.
        steps.append(mt.RandScaleIntensity(factors=scale, prob=0.5, channel_wise=True))
        steps.append(mt.RandShiftIntensity(offsets=shift, prob=0.5, channel_wise=True))
    compose = mt.Compose(steps)
    compose.set_random_state(seed=seed)

    def apply(sample: torch.Tensor) -> torch.Tensor:
        out = compose(sample)
        return torch.as_tensor(out, dtype=torch.float32)

    return apply


def augment_batch(
    batch: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor] | None
) -> torch.Tensor:
    """Apply a per-sample transform to each sample of a (B, C, ...) CPU batch."""
    if transform is None:
        return batch
    return torch.stack([transform(sample) for sample in batch])
