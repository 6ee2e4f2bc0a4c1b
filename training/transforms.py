"""Preprocessing (once per item, cached) and augmentation (training batches only).

Preprocessing turns an ``Image`` into a float32 channel-first array at the model's size:
resize to a cube (3D) or square (2D), then a CT window or a per-item z-score, then the channel
count the model wants (gray -> 3 channels for ImageNet-style 2D models, RGB -> gray for 3D).
It runs once per item per run (and is cached on disk), so no epoch re-decodes a file.

Augmentation (flips, rotations, zoom, intensity, colour jitter) works on whole batches with
MONAI's batched affine warp; it is applied to training batches only, never to validation, test
or prediction inputs.
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
class BatchAugment:
    """Random flips, rotations (±15°), zoom and intensity shift/scale (colour jitter for RGB)
    applied to a whole (B, C, *spatial) batch at once, on whatever device the batch is on.

    One affine per sample (flip x rotation x zoom) is applied with MONAI's batched
    ``AffineTransform`` (a single grid-sample call for the batch), and the intensity changes are
    broadcast arithmetic. Per-sample MONAI array transforms cost ~5 ms per 2D image and ~50 ms
    per 64^3 volume on a CPU core, which made augmentation, not the model, the bottleneck.
    Random numbers come from a seeded CPU generator, so a run is repeatable on any device.
    """

    def __init__(self, preset: str, ndim: int, channels: int, seed: int) -> None:
        from monai.networks.layers import AffineTransform

        self.strong = preset == "strong"
        self.ndim = ndim
        self.channels = channels
        self.generator = torch.Generator().manual_seed(seed)
        self.warp = AffineTransform(normalized=True, mode="bilinear", padding_mode="zeros")
        # Light flips left-right only (the last axis); strong flips every axis.
        self.flip_axes = list(range(ndim)) if self.strong else [ndim - 1]
        # Rotations in the in-plane (y, x) plane; strong 3D also tilts the other two planes.
        planes = [(ndim - 2, ndim - 1)]
        if ndim == 3 and self.strong:
            planes += [(0, 1), (0, 2)]
        self.planes = planes
        self.intensity = 0.2 if self.strong else 0.1

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator)

    def _chosen(self, n: int, p: float) -> torch.Tensor:
        return self._rand(n) < p

    def spatial_theta(self, n: int) -> torch.Tensor | None:
        """(n, ndim, ndim + 1) affines in normalised array-index coordinates, or None when
        every sample drew the identity (the warp is skipped)."""
        d = self.ndim
        matrix = torch.eye(d).repeat(n, 1, 1)
        for axis in self.flip_axes:
            flip = self._chosen(n, 0.5)
            matrix[flip, :, axis] *= -1
        rotate = self._chosen(n, 0.5)
        for i, j in self.planes:
            angle = (self._rand(n) * 2 - 1) * math.radians(15) * rotate
            rot = torch.eye(d).repeat(n, 1, 1)
            rot[:, i, i] = torch.cos(angle)
            rot[:, i, j] = -torch.sin(angle)
            rot[:, j, i] = torch.sin(angle)
            rot[:, j, j] = torch.cos(angle)
            matrix = rot @ matrix
        if self.strong:
            zoom = torch.where(self._chosen(n, 0.5), 0.85 + 0.3 * self._rand(n), torch.ones(n))
            matrix = matrix / zoom[:, None, None]  # sampling a smaller field = zooming in
        if torch.allclose(matrix, torch.eye(d).expand_as(matrix)):
            return None
        return torch.cat([matrix, torch.zeros(n, d, 1)], dim=2)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        n = batch.shape[0]
        theta = self.spatial_theta(n)
        out = batch.float()
        if theta is not None:
            out = self.warp(out, theta.to(out.device))
        shape = (n,) + (1,) * (out.dim() - 1)
        f = self.intensity
        scale = 1 + (self._rand(n) * 2 - 1) * f * self._chosen(n, 0.5)
        shift = (self._rand(n) * 2 - 1) * f * self._chosen(n, 0.5)
        out = out * scale.view(shape).to(out.device) + shift.view(shape).to(out.device)
        if self.channels == 3:  # colour jitter: a small gain and offset per channel
            cshape = (n, 3) + (1,) * (out.dim() - 2)
            jitter = self._chosen(n, 0.5)[:, None]
            gain = 1 + (self._rand(n, 3) * 2 - 1) * f * jitter
            offset = (self._rand(n, 3) * 2 - 1) * f * jitter
            out = out * gain.view(cshape).to(out.device) + offset.view(cshape).to(out.device)
        if self.strong:
            noisy = self._chosen(n, 0.3).view(shape).to(out.device)
            noise = torch.randn(out.shape, generator=self.generator).to(out.device)
            out = out + 0.05 * noise * noisy
        return out


def build_augmentation(
    preset: str, ndim: int, channels: int, seed: int
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The batch transform for ``preset`` (None for ``"none"``), seeded for repeatability."""
    if preset == "none":
        return None
    return BatchAugment(preset, ndim, channels, seed)


def augment_batch(
    batch: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor] | None
) -> torch.Tensor:
    """Apply the training augmentation to a (B, C, ...) batch (identity without one)."""
    if transform is None:
        return batch
    return transform(batch)
