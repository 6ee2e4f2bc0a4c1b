"""Slice mode's training data: the chosen slices of each volume (``training.slices``) decoded
once into one half-precision store, a slice index over the volumes beside it.

Memory: 200 volumes x 60 slices at 224 px are 12,000 slices; as float32 with the three
channels ImageNet models take that is 7.2 GB, here it is one float16 channel (1.2 GB). The
three channels are a stride-0 view of the one (``Tensor.expand``), made real per batch only,
and the loop turns each batch to float32 (``training.loop``). A separate unit, so a streamed
source (issue 17) can replace the in-memory store without touching the selection.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from medview.core.errors import MedviewError
from medview.core.project import Item, Project
from training.data import refuse_over_limit
from training.slices import (
    KeySlice,
    Selection,
    acquisition_axis,
    plane_name,
    planned_slices,
    select_slices,
    slice_memory_bytes,
)
from training.transforms import PrepSettings

ProgressFn = Callable[[int, int], None]


@dataclass
class SliceData:
    """Volumes (``items``, ``volume_y``: one entry each) and their slices (``x``, ``y``,
    ``volume_of``, ``index``: one entry per slice; ``x`` and ``y`` are what the training loop
    indexes, as in ``LoadedData``)."""

    items: list[Item]
    volume_y: torch.Tensor  # (V,) class index per volume, -1 unlabelled
    x: torch.Tensor  # (N, C, S, S) float16
    y: torch.Tensor  # (N,) the volume's class, per slice
    volume_of: np.ndarray  # (N,) position into ``items``
    index: np.ndarray  # (N,) slice index along the volume's axis
    selections: list[Selection] = field(default_factory=list)  # per volume
    planes: list[str] = field(default_factory=list)  # per volume: axial, coronal, sagittal
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cache_hits: int = 0  # the slice store is rebuilt each run (no disk cache yet)
    store: None = None  # in memory (LoadedData's streamed store is not used in slice mode)

    @property
    def n_slices(self) -> int:
        return int(self.x.shape[0])

    @property
    def item_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def close(self) -> None:
        """Nothing to release: the slices live in memory (the run's end drops them)."""


def check_slice_memory(items: Sequence[Item], slices: str, size: int) -> int:
    """Refuse, before decoding, a slice store that cannot fit; returns the planned slices."""
    planned = sum(planned_slices(it.shape, _meta_axis(it), slices) for it in items)
    refuse_over_limit(
        slice_memory_bytes(planned, size),
        f"{planned} slices of {len(items)} volumes at input size {size}",
        "lower --size, use --slices middle:N, or",
    )
    return planned


def _meta_axis(item: Item) -> int:
    axis = item.meta.get("slice_axis") if isinstance(item.meta, dict) else None
    return axis if isinstance(axis, int) and axis in (0, 1, 2) else 0


def slice_planes(volume: np.ndarray, selection: Selection, prep: PrepSettings) -> np.ndarray:
    """The selected planes, resized to ``prep.size`` and normalised like the volume (one CT
    window or one z-score over the whole volume, so slices keep their relative brightness),
    as float16 (k, 1, S, S)."""
    planes = np.moveaxis(np.take(volume, selection.indices, axis=selection.axis), selection.axis, 0)
    batch = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))[:, None]
    batch = torch.nan_to_num(batch)
    if tuple(batch.shape[2:]) != (prep.size, prep.size):
        batch = F.interpolate(batch, size=(prep.size, prep.size), mode="bilinear", antialias=True)
    if prep.ct_window is not None:
        level, width = prep.ct_window
        low = level - width / 2
        batch = ((batch.clamp(low, low + width) - low) / max(width, 1e-6)) * 2 - 1
    else:
        finite = np.nan_to_num(volume.astype(np.float64, copy=False))
        mean, std = float(finite.mean()), float(finite.std())
        batch = (batch - mean) / (std if std > 1e-6 else 1.0)
    return batch.to(torch.float16).numpy()


def _grey_volume(project: Project, item: Item) -> tuple[np.ndarray, int, str]:
    """(volume (z, y, x) float32, acquisition axis, plane name) of a 3D item."""
    from medview.io.readers import load_item

    image = load_item(project, item)
    volume = np.asarray(image.array, dtype=np.float32)
    if volume.ndim == 4:  # colour volumes are rare; a grey model sees their mean
        volume = volume[..., :3].mean(axis=-1)
    axis = acquisition_axis(image.direction, image.metadata)
    return volume, axis, plane_name(image.direction, axis)


class _Store:
    """A growing (N, 1, S, S) float16 array, allocated once at the planned size."""

    def __init__(self, planned: int, size: int) -> None:
        self.array = np.empty((max(planned, 1), 1, size, size), dtype=np.float16)
        self.used = 0

    def append(self, chunk: np.ndarray) -> None:
        end = self.used + len(chunk)
        if end > len(self.array):  # a volume sliced along another axis than planned: grow
            grown = np.empty((end * 5 // 4, *self.array.shape[1:]), dtype=np.float16)
            grown[: self.used] = self.array[: self.used]
            self.array = grown
        self.array[self.used : end] = chunk
        self.used = end


def load_slices(
    project: Project,
    items: Sequence[Item],
    prep: PrepSettings,
    class_names: Sequence[str],
    slices: str,
    *,
    keys: Mapping[int, KeySlice] | None = None,
    min_content: float = 0.05,
    progress: ProgressFn | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> SliceData:
    """Decode every volume (a few threads), select its slices, store them; an unreadable
    volume is skipped with its reason, the rest go on."""
    store = _Store(check_slice_memory(items, slices, prep.size), prep.size)
    keys = keys or {}

    def one(k: int) -> tuple[int, np.ndarray | None, Selection | str, str]:
        if should_cancel is not None and should_cancel():
            return k, None, "cancelled", ""
        item = items[k]
        try:
            volume, axis, plane = _grey_volume(project, item)
            chosen = select_slices(
                volume, axis, slices, key=keys.get(item.id), min_content=min_content
            )
            return k, slice_planes(volume, chosen, prep), chosen, plane
        except MedviewError as exc:
            return k, None, f"{item.name}: {exc}", ""
        except Exception as exc:  # decoders raise many types; any of them skips one volume
            return k, None, f"{item.name}: cannot read ({type(exc).__name__}: {exc})", ""

    parts = _collect(one, len(items), store, progress)
    return _assemble(items, class_names, store, parts, prep.channels)


def _collect(one, total: int, store: _Store, progress: ProgressFn | None) -> list:
    """Run ``one`` over the volumes in order, appending their slices to ``store``."""
    parts = []
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for done, (k, planes, chosen, plane) in enumerate(pool.map(one, range(total)), 1):
            if planes is not None:
                store.append(planes)
            parts.append((k, len(planes) if planes is not None else 0, chosen, plane))
            if progress is not None:
                progress(done, total)
    return parts


def _assemble(
    items: Sequence[Item],
    class_names: Sequence[str],
    store: _Store,
    parts: list,
    channels: int,
) -> SliceData:
    index_of = {name: k for k, name in enumerate(class_names)}
    kept: list[Item] = []
    selections: list[Selection] = []
    planes: list[str] = []
    skipped: list[str] = []
    volume_of: list[int] = []
    indices: list[int] = []
    for k, count, chosen, plane in parts:
        if not count:
            if chosen != "cancelled":
                skipped.append(str(chosen))
            continue
        volume_of += [len(kept)] * count
        indices += list(chosen.indices)
        kept.append(items[k])
        selections.append(chosen)
        planes.append(plane)
    volume_y = torch.tensor([index_of.get(it.label or "", -1) for it in kept], dtype=torch.long)
    base = torch.from_numpy(store.array[: store.used])
    x = base.expand(-1, channels, -1, -1) if channels > 1 else base
    where = torch.as_tensor(volume_of, dtype=torch.long)
    y = volume_y[where] if volume_of else volume_y[:0]
    data = SliceData(kept, volume_y, x, y, np.asarray(volume_of, dtype=int), np.asarray(indices))
    data.selections, data.planes, data.skipped = selections, planes, skipped
    data.notes = _notes(kept, selections)
    return data


def _notes(items: Sequence[Item], selections: Sequence[Selection]) -> list[str]:
    """What the run's log says about the selection (key fallbacks, empty volumes)."""
    notes = []
    fallback = [it.name for it, s in zip(items, selections, strict=True) if "no key" in s.source]
    if fallback:
        shown = ", ".join(fallback[:5]) + (" …" if len(fallback) > 5 else "")
        notes.append(f"{len(fallback)} volume(s) have no key slice, middle slice used: {shown}")
    dropped = sum(s.dropped for s in selections)
    if dropped:
        notes.append(f"{dropped} slice(s) without content (air, padding) left out")
    for it, s in zip(items, selections, strict=True):
        notes += [f"{it.name}: {n}" for n in s.notes]
    return notes
