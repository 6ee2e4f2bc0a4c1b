"""The streamed training path: which path a run takes, and its items written to (or found in)
the streaming cache instead of held in memory.

A run streams when ``--data stream`` asks for it, or when ``--data auto`` (the default) finds
that the in-memory float32 tensors would exceed ``MEDVIEW_TRAIN_MEMORY_MB`` (default: half
the physical memory); ``--data memory`` keeps today's refusal of a set that does not fit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from medview.core.containment import UnsafePathError
from medview.core.disk_cache import budget_bytes, cache_folder
from medview.core.project import Item, Project
from training.data import LoadedData, ProgressFn, _labels, decode_item, memory_limit
from training.stream_cache import build_store
from training.transforms import PrepSettings


def data_mode(requested: str, n_items: int, prep: PrepSettings) -> tuple[str, str]:
    """("memory" | "stream", the reason, for the run's log)."""
    need = n_items * int(np.prod(prep.shape)) * 4
    limit = memory_limit()
    gib = 1024**3
    if requested in ("memory", "stream"):
        return requested, f"--data {requested}"
    if limit is None or need <= limit:
        return "memory", f"{need / gib:.2f} GiB of tensors fit in memory"
    return "stream", (
        f"{n_items} items need {need / gib:.1f} GiB as float32, more than the "
        f"{limit / gib:.1f} GiB allowed (MEDVIEW_TRAIN_MEMORY_MB): streamed from a disk cache"
    )


def stream_root(project: Project) -> tuple[Path | None, str | None]:
    """``cache/stream`` as a real, marked folder inside the project, or (None, why not)."""
    try:
        return cache_folder(project.folder, "stream"), None
    except (UnsafePathError, OSError) as exc:
        return None, f"stream cache not kept in the project: {exc}"


def load_stream(
    project: Project,
    items: Sequence[Item],
    prep: PrepSettings,
    class_names: Sequence[str],
    *,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    should_cancel: Callable[[], bool] | None = None,
    workers: int | None = None,
) -> LoadedData:
    """The items in a disk store (``LoadedData.store``), decoded only where the cache has
    no intact copy; ``x`` stays empty. ``use_cache=False``: a store private to the run."""
    root, why_not = stream_root(project)
    notes = [why_not] if why_not else []
    keys = [it.content_hash or None if use_cache else None for it in items]
    result = build_store(
        root,
        prep.key("stream")[:24],
        prep.shape,
        keys,
        lambda k: decode_item(project, items[k], prep),
        budget=budget_bytes("MEDVIEW_TENSOR_CACHE_MB", 8192),
        progress=progress,
        should_cancel=should_cancel,
        workers=workers or min(4, os.cpu_count() or 1),
    )
    kept = [items[k] for k in result.kept]
    empty = torch.empty((0, *prep.shape))
    skipped = [result.skipped[k] for k in sorted(result.skipped) if not result.cancelled]
    data = LoadedData(kept, empty, _labels(kept, class_names), skipped, result.hits)
    data.notes = notes + result.notes
    data.store = result.store
    return data
