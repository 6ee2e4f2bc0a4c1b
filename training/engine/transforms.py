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

from medview.core.errors import MedviewError
from medview.core.image import Image
from training.recipe.augment import Augment, parse_augment

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
    array = finite_pixels(array)
    array = _resize(array, prep.ndim, prep.size)
    array = _normalise(array, prep.ct_window)
    if not bool(torch.isfinite(array).all()):
        raise UnusablePixels("pixel values too far apart to normalise (float overflow)")
    if array.shape[0] == 1 and prep.channels == 3:
        array = array.expand(3, *array.shape[1:])
    return np.ascontiguousarray(array.numpy(), dtype=np.float32)


class UnusablePixels(MedviewError):
    """An image with no usable pixel values (all NaN/Inf, or a range float32 cannot scale)."""


def finite_pixels(array: torch.Tensor) -> torch.Tensor:
    """NaN -> 0, +-Inf -> the image's largest/smallest finite value. ``nan_to_num`` alone made
    +Inf 3.4e38, which overflowed the z-score to NaN: one float TIFF with half its pixels +Inf
    failed the whole run with "Input contains NaN". Images without NaN/Inf are unchanged."""
    finite = torch.isfinite(array)
    if bool(finite.all()):
        return array
    if not bool(finite.any()):
        raise UnusablePixels("no finite pixel values (every pixel is NaN or infinite)")
    values = array[finite]
    high, low = float(values.max()), float(values.min())
    return torch.nan_to_num(array, nan=0.0, posinf=high, neginf=low)


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
    """The named augmentation parameters (training/recipe/augment.py) applied to a whole
    (B, C, *spatial) batch at once, on whatever device the batch is on.

    One affine per sample (flips x rotation x zoom x shift) is applied with MONAI's batched
    ``AffineTransform`` (a single grid-sample call for the batch), and the intensity changes are
    broadcast arithmetic. Per-sample MONAI array transforms cost ~5 ms per 2D image and ~50 ms
    per 64^3 volume on a CPU core, which made augmentation, not the model, the bottleneck.
    Random numbers come from a seeded CPU generator, so a run is repeatable on any device; a
    parameter left at 0 draws nothing, so the presets draw what they always drew.
    """

    def __init__(self, params: Augment, ndim: int, channels: int, seed: int) -> None:
        from monai.networks.layers import AffineTransform

        self.p = params
        self.ndim = ndim
        self.channels = channels
        self.generator = torch.Generator().manual_seed(seed)
        self.warp = AffineTransform(normalized=True, mode="bilinear", padding_mode="zeros")
        # Array axes are (z,) y, x: flip_x is the last axis, flip_z the first of a volume.
        by_axis = (
            [params.flip_y, params.flip_x]
            if ndim == 2
            else [params.flip_z, params.flip_y, params.flip_x]
        )
        self.flips = [(axis, p) for axis, p in enumerate(by_axis) if p > 0]
        # Rotations in the in-plane (y, x) plane; a volume's tilt turns the other two planes.
        planes = [(ndim - 2, ndim - 1, params.rotate)]
        if ndim == 3 and params.tilt > 0:
            planes += [(0, 1, params.tilt), (0, 2, params.tilt)]
        self.planes = [(i, j, math.radians(deg)) for i, j, deg in planes if deg > 0]

    def _rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator)

    def _chosen(self, n: int, p: float) -> torch.Tensor:
        return self._rand(n) < p

    def _range(self, n: int, size: float) -> torch.Tensor:
        """Uniform in ±size for the half of the samples drawn to change, 0 for the rest."""
        return (self._rand(n) * 2 - 1) * size * self._chosen(n, 0.5)

    def spatial_theta(self, n: int) -> torch.Tensor | None:
        """(n, ndim, ndim + 1) affines in normalised array-index coordinates, or None when
        every sample drew the identity (the warp is skipped)."""
        d, p = self.ndim, self.p
        matrix = torch.eye(d).repeat(n, 1, 1)
        for axis, chance in self.flips:
            matrix[self._chosen(n, chance), :, axis] *= -1
        if self.planes:
            rotate = self._chosen(n, p.rotate_p)
        for i, j, limit in self.planes:
            angle = (self._rand(n) * 2 - 1) * limit * rotate
            rot = torch.eye(d).repeat(n, 1, 1)
            rot[:, i, i], rot[:, i, j] = torch.cos(angle), -torch.sin(angle)
            rot[:, j, i], rot[:, j, j] = torch.sin(angle), torch.cos(angle)
            matrix = rot @ matrix
        if p.scale > 0:
            zoom = torch.where(self._chosen(n, 0.5), 1 - p.scale + 2 * p.scale * self._rand(n), 1.0)
            matrix = matrix / zoom[:, None, None]  # sampling a smaller field = zooming in
        shift = torch.zeros(n, d, 1)
        if p.translate > 0:  # normalised coordinates span 2: a fraction f of the field is 2f
            shift = (
                (self._rand(n, d, 1) * 2 - 1)
                * 2
                * p.translate
                * self._chosen(n, 0.5)[:, None, None]
            )
        if torch.allclose(matrix, torch.eye(d).expand_as(matrix)) and not shift.any():
            return None
        return torch.cat([matrix, shift], dim=2)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        n, p = batch.shape[0], self.p
        theta = self.spatial_theta(n)
        out = batch.float()
        if theta is not None:
            out = self.warp(out, theta.to(out.device))
        shape = (n,) + (1,) * (out.dim() - 1)
        if p.contrast > 0:
            out = out * (1 + self._range(n, p.contrast)).view(shape).to(out.device)
        if p.brightness > 0:
            out = out + self._range(n, p.brightness).view(shape).to(out.device)
        if self.channels == 3:
            out = self._colour(out, n)
        if p.noise > 0:
            noisy = self._chosen(n, p.noise_p).view(shape).to(out.device)
            noise = torch.randn(out.shape, generator=self.generator).to(out.device)
            out = out + p.noise * noise * noisy
        if p.blur > 0:
            out = self._blur(out, n)
        return out

    def _colour(self, out: torch.Tensor, n: int) -> torch.Tensor:
        """Per-channel gain and offset (``colour``), then a blend towards grey (``saturation``)."""
        cshape = (n, 3) + (1,) * (out.dim() - 2)
        if self.p.colour > 0:
            f, jitter = self.p.colour, self._chosen(n, 0.5)[:, None]
            gain = 1 + (self._rand(n, 3) * 2 - 1) * f * jitter
            offset = (self._rand(n, 3) * 2 - 1) * f * jitter
            out = out * gain.view(cshape).to(out.device) + offset.view(cshape).to(out.device)
        if self.p.saturation > 0:
            amount = (self._rand(n) * self.p.saturation * self._chosen(n, 0.5)).to(out.device)
            amount = amount.view((n,) + (1,) * (out.dim() - 1))
            out = out * (1 - amount) + out.mean(dim=1, keepdim=True) * amount
        return out

    def _blur(self, out: torch.Tensor, n: int) -> torch.Tensor:
        """A Gaussian blur of sigma up to ``blur`` pixels for half the samples (MONAI's
        separable filter, one call per blurred sample: sigmas differ)."""
        from monai.networks.layers import GaussianFilter

        sigmas = self._rand(n) * self.p.blur * self._chosen(n, 0.5)
        rows = [
            GaussianFilter(self.ndim, float(s)).to(out.device)(out[k : k + 1])
            if s > 0.05
            else out[k : k + 1]
            for k, s in enumerate(sigmas.tolist())
        ]
        return torch.cat(rows)


def build_augmentation(
    augment: str | Augment | None, ndim: int, channels: int, seed: int
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The batch transform for ``augment`` (a preset, named parameters, or parsed; None when
    it changes nothing), seeded for repeatability."""
    params = augment if isinstance(augment, Augment) else parse_augment(augment)
    if params.off:
        return None
    return BatchAugment(params, ndim, channels, seed)


def augment_batch(
    batch: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor] | None
) -> torch.Tensor:
    """Apply the training augmentation to a (B, C, ...) batch (identity without one)."""
    if transform is None:
        return batch
    return transform(batch)
