"""Items -> in-memory tensors, with a disk cache, batching, samplers and class weights.

Every item is decoded and preprocessed once per run and kept in one (N, C, ...) float32 tensor;
training batches are index selections from it, so no epoch touches a file and there is no
per-sample collate overhead. The disk cache (``PROJECT/cache/tensors``) is keyed by content
hash + preprocessing settings, so a second run with the same settings skips decoding entirely.
The values pass through the streaming codec (``training.stream.codec``), so a run that does
not fit and streams instead (``training.stream.data``) trains on exactly the same inputs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from medview.core.containment import UnsafePathError, check_no_links, ensure_dir, is_regular_file
from medview.core.disk_cache import budget_bytes, cache_folder, prune, touch
from medview.core.errors import MedviewError
from medview.core.project import Item, Project
from training.engine.transforms import PrepSettings, preprocess
from training.recipe.config import TrainConfig, model_kind
from training.recipe.model_specs import spec
from training.stream.codec import roundtrip
from training.stream.shards import StreamStore

ProgressFn = Callable[[int, int], None]


class DataError(MedviewError):
    """No usable training data (nothing labelled, every file unreadable, ...)."""


@dataclass
class LoadedData:
    items: list[Item]
    x: torch.Tensor  # (N, C, *spatial)
    y: torch.Tensor  # (N,) class indices; -1 for unlabelled items
    skipped: list[str] = field(default_factory=list)  # "item name: reason"
    cache_hits: int = 0
    notes: list[str] = field(default_factory=list)  # warnings about the run, not an item
    # Streamed runs: the items live in this disk store and ``x`` is empty (0, C, *spatial).
    store: StreamStore | None = None

    @property
    def item_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def close(self) -> None:
        """Unmap the stream store (and delete it when it was private to the run)."""
        if self.store is not None:
            self.store.close()


def choose_kind(project: Project, cfg: TrainConfig) -> str:
    """The item kind to train on: the model's, else the majority of labelled items; slice
    mode (``--slices``) trains a 2D model on 3D items."""
    if cfg.slices:
        return "3d"
    if cfg.model:
        return model_kind(cfg.model)
    if cfg.kind:
        return cfg.kind
    labelled = project.items(labelled=True)
    if not labelled:
        raise DataError(f"{project.folder}: no labelled items to train on")
    n3d = sum(1 for it in labelled if it.kind == "3d")
    return "3d" if n3d * 2 >= len(labelled) else "2d"


def input_channels(model: str, items: Sequence[Item], grey_in_rgb: bool = False) -> int:
    """The model's fixed channels (ModelSpec.channels: 1 for the 3D models, 3 for ImageNet
    RGB), else the data's: 3 when any item is colour, unless the colour-stored items are
    grey in fact (training.recipe.colour_check)."""
    fixed = spec(model).channels
    if fixed is not None:
        return fixed
    rgb = not grey_in_rgb and any(len(it.shape) == 4 and it.shape[-1] >= 3 for it in items)
    return 3 if rgb else 1


def memory_limit() -> int | None:
    """Bytes the decoded training tensors may take: MEDVIEW_TRAIN_MEMORY_MB, else half the
    physical memory (None where the OS does not say)."""
    value = os.environ.get("MEDVIEW_TRAIN_MEMORY_MB")
    if value:
        try:
            return int(float(value) * 1024 * 1024)
        except ValueError:
            pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(n_items: int, prep: PrepSettings) -> None:
    """Every item is kept in memory as float32 at the input size; refuse a run that cannot
    fit before allocating it, with what to change, rather than swapping or being killed."""
    need = n_items * int(np.prod(prep.shape)) * 4
    refuse_over_limit(need, f"{n_items} items at input size {prep.size}", "lower --size, or")


def refuse_over_limit(need: int, what: str, advice: str) -> None:
    """A ``DataError`` saying that ``what`` needs more memory than allowed, and what to change
    (``advice`` is followed by the way to raise the limit)."""
    limit = memory_limit()
    if limit is not None and need > limit:
        gib = 1024**3
        raise DataError(
            f"{what} need {need / gib:.1f} GiB of memory, more than the "
            f"{limit / gib:.1f} GiB allowed: {advice} raise the limit with MEDVIEW_TRAIN_MEMORY_MB"
        )


def _read_item(project: Project, item: Item):  # -> Image
    # Imported here: medview.io pulls in optional decoders the engine only needs at load time.
    from medview.io.readers import load_item

    return load_item(project, item)


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "tensors" / key[:2] / f"{key}.npy"


def _tensor_cache(project: Project) -> tuple[Path | None, str | None]:
    """``cache/tensors`` as a real, marked folder inside the project, or (None, why not).
    A link there (someone else's project) disables the cache for this run: never followed."""
    try:
        return cache_folder(project.folder, "tensors"), None
    except (UnsafePathError, OSError) as exc:
        return None, f"tensor cache not used: {exc}"


def _is_entry(project_folder: Path, path: Path) -> bool:
    """A cache entry medview can trust: a plain file reached without a link."""
    try:
        check_no_links(project_folder, path)
    except UnsafePathError:
        return False
    return is_regular_file(path)


def _save_atomic(project_folder: Path, path: Path, array: np.ndarray) -> None:
    # Write-then-rename, so a killed run never leaves a half-written cache entry behind; the
    # shard folder is made (and checked) without following a link out of the project.
    try:
        ensure_dir(project_folder, path.parent)
    except (UnsafePathError, OSError):
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        # A full disk (or any write error) costs the cache entry, not the run.


def decode_item(
    project: Project, item: Item, prep: PrepSettings
) -> tuple[np.ndarray | None, str | None]:
    """(the preprocessed float32 array, None) or (None, why it cannot be read)."""
    try:
        return preprocess(_read_item(project, item), prep), None
    except MedviewError as exc:
        return None, f"{item.name}: {exc}"
    except Exception as exc:  # decoders raise many types; any of them skips one item
        return None, f"{item.name}: cannot read ({type(exc).__name__}: {exc})"


def _cached(project: Project, path: Path, prep: PrepSettings) -> np.ndarray | None:
    if not _is_entry(project.folder, path):
        return None
    try:
        cached = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a damaged entry: decode again and overwrite it
    if cached.shape != prep.shape or not np.isfinite(cached).all():
        return None  # NaN entries: written before Inf pixels were clipped (issue 23)
    touch(path)
    return cached


def _load_one(
    project: Project, item: Item, prep: PrepSettings, use_cache: bool
) -> tuple[np.ndarray | None, str | None, bool]:
    """(what training sees of the item, error, from the cache). The values pass through the
    streaming codec, so the in-memory and the streamed path train on identical inputs."""
    path = _cache_path(project.cache_dir, prep.key(item.content_hash))
    use_cache = use_cache and bool(item.content_hash)
    cached = _cached(project, path, prep) if use_cache else None
    if cached is not None:
        return roundtrip(cached), None, True
    array, error = decode_item(project, item, prep)
    if array is None:
        return None, error, False
    if use_cache:
        _save_atomic(project.folder, path, array)
    return roundtrip(array), None, False


def _cache_state(project: Project, use_cache: bool) -> tuple[bool, list[str]]:
    if not use_cache:
        return False, []
    tensors, why_not = _tensor_cache(project)
    return (True, []) if tensors is not None else (False, [str(why_not)])


def _labels(items: Sequence[Item], class_names: Sequence[str]) -> torch.Tensor:
    index = {name: k for k, name in enumerate(class_names)}
    return torch.tensor([index.get(it.label or "", -1) for it in items], dtype=torch.long)


def load_items(
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
    """Decode + preprocess items (in a few threads; decoders release the GIL) into memory.

    An unreadable item is skipped with its reason, not fatal: one corrupt file must not lose
    a run over a hundred good ones.
    """
    use_cache, notes = _cache_state(project, use_cache)
    check_memory(len(items), prep)
    out = np.empty((len(items), *prep.shape), dtype=np.float32)
    cancelled = should_cancel or (lambda: False)
    pool_size = workers or min(4, os.cpu_count() or 1)
    ok, skipped, hits = _decode_into(
        out, project, items, prep, use_cache, progress, cancelled, pool_size
    )
    if use_cache:
        _prune_tensor_cache(project, items, prep)
    keep = [k for k in range(len(items)) if ok[k]]
    x = torch.from_numpy(out[keep]) if len(keep) != len(items) else torch.from_numpy(out)
    kept_items = [items[k] for k in keep]
    return LoadedData(kept_items, x, _labels(kept_items, class_names), skipped, hits, notes)


def _decode_into(
    out: np.ndarray,
    project: Project,
    items: Sequence[Item],
    prep: PrepSettings,
    use_cache: bool,
    progress: ProgressFn | None,
    cancelled: Callable[[], bool],
    workers: int,
) -> tuple[list[bool], list[str], int]:
    """Fill ``out[k]`` with item k in a few threads: which rows are good, the skip reasons,
    and how many came from the tensor cache."""
    ok, skipped, hits = [False] * len(items), [], 0

    def one(k: int) -> tuple[int, str | None, bool]:
        if cancelled():
            return k, None, False
        array, error, hit = _load_one(project, items[k], prep, use_cache)
        if array is not None:
            out[k] = array
        return k, error, hit

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, (k, error, hit) in enumerate(pool.map(one, range(len(items))), start=1):
            if error is not None:
                skipped.append(error)
            elif not cancelled():
                ok[k], hits = True, hits + int(hit)
            if progress is not None:
                progress(done, len(items))
    return ok, skipped, hits


def _prune_tensor_cache(project: Project, items: Sequence[Item], prep: PrepSettings) -> None:
    """Keep the tensor cache within MEDVIEW_TENSOR_CACHE_MB, never dropping this run's items."""
    used = [_cache_path(project.cache_dir, prep.key(it.content_hash)) for it in items]
    budget = budget_bytes("MEDVIEW_TENSOR_CACHE_MB", 8192)
    prune(project.cache_dir / "tensors", budget, keep=used, base=project.folder)


# ---------------------------------------------------------------------- batching
def epoch_batches(
    indices: Sequence[int],
    batch_size: int,
    generator: torch.Generator,
    *,
    sample_weights: torch.Tensor | None = None,
    sampler: str = "none",
    labels: torch.Tensor | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[torch.Tensor]:
    """Index batches for one epoch, drawn by ``sampler`` (``epoch_order``) from ``indices``.

    Under DDP every rank draws the same permutation (same generator state) and takes its
    own stride of it, which is what DistributedSampler does without the Dataset machinery.
    """
    idx = torch.as_tensor(list(indices), dtype=torch.long)
    chosen = idx[epoch_order(len(idx), generator, sampler, labels, sample_weights)]
    n = len(chosen)
    if world_size > 1:
        per_rank = -(-n // world_size)
        padded = torch.cat([chosen, chosen[: per_rank * world_size - n]])  # equal shares
        chosen = padded[rank::world_size]
    for start in range(0, len(chosen), batch_size):
        batch = chosen[start : start + batch_size]
        if len(batch) == 1 and len(chosen) > 1:
            continue  # a lone sample breaks BatchNorm in train mode; it is seen next epoch
        yield batch


def epoch_order(
    n: int,
    generator: torch.Generator,
    sampler: str = "none",
    labels: torch.Tensor | None = None,
    sample_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Positions 0..n-1 in the order one epoch visits them: a shuffled pass (``none``), a
    class-balanced draw of n with replacement (``oversample``, or given ``sample_weights``),
    or every class cut to the smallest class's count (``undersample``)."""
    if sampler == "undersample":
        if labels is None:
            raise ValueError("undersampling needs the items' labels")
        return undersample_order(labels, generator)
    if sampler == "oversample" and sample_weights is None:
        if labels is None:
            raise ValueError("oversampling needs the items' labels")
        sample_weights = balanced_weights(labels)
    if sample_weights is not None:
        return torch.multinomial(sample_weights, n, replacement=True, generator=generator)
    return torch.randperm(n, generator=generator)


def undersample_order(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A balanced epoch without repeats: from each class as many items as the smallest class
    has, a fresh random subset of the larger classes each epoch (so over the epochs every
    majority item is still seen), shuffled together."""
    present = torch.unique(labels)
    members = [torch.nonzero(labels == c).flatten() for c in present]
    n = min(len(m) for m in members)
    picks = [m[torch.randperm(len(m), generator=generator)[:n]] for m in members]
    chosen = torch.cat(picks)
    return chosen[torch.randperm(len(chosen), generator=generator)]


def epoch_size(labels: torch.Tensor, sampler: str) -> int:
    """Items one epoch draws (per-step schedules need it before the first epoch)."""
    if sampler != "undersample" or not len(labels):
        return len(labels)
    counts = torch.bincount(labels)
    present = counts[counts > 0]
    return int(present.min()) * len(present)


def balanced_weights(labels: torch.Tensor) -> torch.Tensor:
    """Per-sample weights so every class is drawn equally often."""
    counts = torch.bincount(labels)
    return (1.0 / counts.clamp(min=1).float())[labels]


def class_weight_vector(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Inverse-frequency class weights normalised to mean 1 (sklearn's 'balanced')."""
    counts = torch.bincount(labels, minlength=n_classes).float().clamp(min=1)
    return len(labels) / (n_classes * counts)
