"""The streaming cache: preprocessed items written once into a few large memory-mapped shards
per preprocessing group, read back a batch at a time.

Generic on purpose (samples in, batches out): a caller gives a group key (everything that
changes the stored values), the item shape, one key per sample (a content hash; None when the
sample cannot be reused across runs) and ``produce(k) -> (array, error)``. Samples found in an
intact shard of the group are not produced again, so the cache is reused across runs and
folds; the rest are produced in a few threads, encoded (``training.stream_codec``) and appended
to new shards (at most ``SHARD_BYTES`` each, not one small file per item).

Safety: a shard becomes visible only when its manifest is renamed into place after the data is
on disk (``training.stream_shards``). A full disk, a write error or a cancel never leaves a
shard a later run would trust; a full disk ends the run with a ``CacheWriteError`` naming the
folder and the space needed. ``MEDVIEW_TENSOR_CACHE_MB`` bounds the cache: other groups' least
recently used shards go first, and a run whose own data would not fit the budget writes a
private store that is deleted when the run ends.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import shutil
import tempfile
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medview.core.disk_cache import touch
from medview.core.errors import MedviewError
from training.stream_codec import CODECS, Encoded, encode
from training.stream_shards import (
    SHARD_NAME,
    Shard,
    StreamStore,
    manifest_json,
    open_group,
    remove_shard,
)

SHARD_BYTES = 1 << 30  # a shard is closed at 1 GiB: few files, none too large to rewrite
STALE_SECONDS = 3600  # a temp file untouched this long belongs to a run that died
Produce = Callable[[int], tuple[np.ndarray | None, str | None]]
ProgressFn = Callable[[int, int], None]


class CacheWriteError(MedviewError):
    """The cache could not be written (a full disk, a write error): the run cannot stream."""


class ShardWriter:
    """Appends encoded items of one codec to ``<id>.bin.tmp``; ``finish`` publishes it."""

    def __init__(self, folder: Path, codec: str, item_shape: tuple[int, ...], group: str) -> None:
        self.folder, self.codec, self.item_shape, self.group = folder, codec, item_shape, group
        self.id = uuid.uuid4().hex[:24]
        self.tmp = folder / f"{self.id}.bin.tmp"
        self.fh = open(self.tmp, "xb")  # noqa: SIM115 - closed in finish/abort
        self.keys: list[str] = []
        self.scales: list[float] = []
        self.shifts: list[float] = []
        self.crc = 0
        self.nbytes = 0

    def add(self, key: str, enc: Encoded) -> int:
        """Write one item; returns its record number."""
        data = np.ascontiguousarray(enc.raw).reshape(-1).view(np.uint8).data
        self.fh.write(data)
        self.crc = zlib.crc32(data, self.crc)
        self.nbytes += len(data)
        self.keys.append(key)
        self.scales.append(enc.scale)
        self.shifts.append(enc.shift)
        return len(self.keys) - 1

    def finish(self) -> Shard:
        """Data to disk, rename, then the manifest (atomically): only now can it be trusted."""
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        data = self.folder / f"{self.id}.bin"
        shard = Shard(
            data,
            self.codec,
            self.item_shape,
            self.keys,
            self.scales,
            self.shifts,
            self.nbytes,
            self.crc,
        )
        os.replace(self.tmp, data)
        tmp_manifest = self.folder / f"{self.id}.json.tmp"
        with open(tmp_manifest, "w", encoding="utf-8") as fh:
            json.dump(manifest_json(shard, self.group), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_manifest, shard.manifest)
        return shard

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


@dataclass
class BuildResult:
    store: StreamStore
    kept: list[int]  # the sample numbers in the store, in order (unreadable ones left out)
    skipped: dict[int, str] = field(default_factory=dict)
    hits: int = 0
    written_bytes: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)


def _produced(
    produce: Produce, todo: Sequence[int], workers: int, cancelled: Callable[[], bool]
) -> Iterator[tuple[np.ndarray | None, str | None]]:
    """``produce(k)`` for ``todo`` in order, in threads (decoders release the GIL), with at
    most ``2 * workers`` results waiting: memory stays at a few items, not the data set."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        ahead = iter(todo)
        pending = deque(pool.submit(produce, k) for k in itertools.islice(ahead, 2 * workers))
        while pending:
            result = pending.popleft().result()
            nxt = None if cancelled() else next(ahead, None)
            if nxt is not None:
                pending.append(pool.submit(produce, nxt))
            yield result


def _write_error(exc: OSError, folder: Path, need: int) -> CacheWriteError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return CacheWriteError(
            f"the disk ran out of space writing the training cache in {folder}: about "
            f"{need / 2**30:.1f} GiB more is needed; free some space and run again (nothing "
            "half-written was kept)"
        )
    return CacheWriteError(f"cannot write the training cache in {folder}: {exc}")


class _Builder:
    """One ``build_store`` call: find what is cached, write the rest, assemble the store."""

    def __init__(
        self,
        root: Path | None,
        group: str,
        item_shape: tuple[int, ...],
        keys: Sequence[str | None],
        budget: int,
    ) -> None:
        self.item_shape, self.group = item_shape, group
        self.item_max = int(np.prod(item_shape)) * CODECS["float16"].itemsize
        persistent = root is not None and all(keys) and bool(group)
        self.shards: list[Shard] = []
        self.notes: list[str] = []
        self.written = 0
        self.private: Path | None = None
        if persistent and root is not None:
            from medview.core.containment import ensure_dir

            self.folder = ensure_dir(root, root / group)
            self.shards, self.notes = open_group(self.folder, item_shape)
        else:
            self.folder = self.private = _private_folder(root)
        self.keys = [str(k) if persistent else f"s{n}" for n, k in enumerate(keys)]
        self.index = {
            key: (i, r) for i, s in enumerate(self.shards) for r, key in enumerate(s.keys)
        }
        missing = {key for key in self.keys if key not in self.index}
        if persistent and budget and self._own_bytes(missing) > budget:
            self.notes.append(
                f"stream cache: this run's items need {self._own_bytes(missing) / 2**30:.1f} GiB,"
                f" more than MEDVIEW_TENSOR_CACHE_MB allows ({budget / 2**30:.1f} GiB): they are"
                " written for this run only and deleted afterwards"
            )
            self.folder = self.private = _private_folder(root)
            self.shards, self.index = [], {}

    def _own_bytes(self, missing: set[str]) -> int:
        used = {self.index[key][0] for key in self.keys if key in self.index}
        return sum(self.shards[i].nbytes for i in used) + len(missing) * self.item_max

    def publish(self, writer: ShardWriter) -> None:
        shard = writer.finish()
        self.written += shard.nbytes
        self.shards.append(shard)
        for record, key in enumerate(shard.keys):
            self.index[key] = (len(self.shards) - 1, record)

    def todo(self) -> tuple[list[int], int]:
        """(the samples to produce: the first of each key not cached, the cache hits)."""
        first: dict[str, int] = {}
        for n, key in enumerate(self.keys):
            if key not in self.index:
                first.setdefault(key, n)
        return list(first.values()), sum(1 for key in self.keys if key in self.index)

    def check_space(self, n_items: int) -> None:
        """Refuse before writing when even the smaller codec cannot fit on the disk."""
        need = n_items * int(np.prod(self.item_shape))  # uint8: the least it can take
        free = shutil.disk_usage(self.folder).free
        if need > free:
            raise _write_error(OSError(errno.ENOSPC, "no space"), self.folder, need - free)

    def write(
        self,
        produce: Produce,
        todo: list[int],
        progress: ProgressFn | None,
        cancelled: Callable[[], bool],
        workers: int,
    ) -> dict[str, str]:
        """Produce, encode and append the ``todo`` samples; returns {key: error} for those
        that could not be produced. Shards are published as they fill up, and at the end."""
        writers: dict[str, ShardWriter] = {}
        errors: dict[str, str] = {}
        done, total = 0, len(todo)
        try:
            for n, (array, error) in zip(
                todo, _produced(produce, todo, workers, cancelled), strict=False
            ):
                done += 1
                if array is None:
                    errors[self.keys[n]] = error or "cannot be read"
                else:
                    self._append(writers, self.keys[n], encode(array))
                if progress is not None:
                    progress(done, total)
            for writer in list(writers.values()):
                self.publish(writer)  # also on cancel: what was written stays valid
        except OSError as exc:
            for writer in writers.values():
                writer.abort()
            raise _write_error(exc, self.folder, (total - done + 1) * self.item_max) from exc
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
        return errors

    def _append(self, writers: dict[str, ShardWriter], key: str, enc: Encoded) -> None:
        writer = writers.get(enc.codec)
        if writer is None:
            writer = writers[enc.codec] = ShardWriter(
                self.folder, enc.codec, self.item_shape, self.group
            )
        writer.add(key, enc)
        if writer.nbytes >= SHARD_BYTES:
            del writers[enc.codec]
            self.publish(writer)

    def assemble(self, errors: dict[str, str]) -> tuple[StreamStore, list[int], dict[int, str]]:
        kept, slots, skipped = [], [], {}
        for n, key in enumerate(self.keys):
            if key in self.index:
                kept.append(n)
                slots.append(self.index[key])
            else:
                skipped[n] = errors.get(key, "not written (cancelled)")
        used = sorted({i for i, _ in slots})
        renumber = {old: new for new, old in enumerate(used)}
        for i in used:
            touch(self.shards[i].manifest)  # recently used: pruned last
        store = StreamStore(
            [self.shards[i] for i in used],
            [(renumber[i], r) for i, r in slots],
            self.item_shape,
            self.private,
        )
        return store, kept, skipped


def _private_folder(root: Path | None) -> Path:
    """A folder for a store that may not outlive the run: in the project's cache when it can
    be used (same disk as the project), else the system's temporary folder."""
    if root is not None:
        folder = root / f"run-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        return folder
    return Path(tempfile.mkdtemp(prefix="medview-stream-"))


def build_store(
    root: Path | None,
    group: str,
    item_shape: tuple[int, ...],
    keys: Sequence[str | None],
    produce: Produce,
    *,
    budget: int = 0,
    progress: ProgressFn | None = None,
    should_cancel: Callable[[], bool] | None = None,
    workers: int | None = None,
) -> BuildResult:
    """The store of ``len(keys)`` samples (see the module's docstring). ``root`` is the
    cache folder (None: no cache, a private store); ``budget`` in bytes (0: no limit)."""
    started = time.perf_counter()
    cancelled = should_cancel or (lambda: False)
    builder = _Builder(root, group, item_shape, keys, budget)
    todo, hits = builder.todo()
    try:
        builder.check_space(len(todo))
        errors = builder.write(
            produce, todo, progress, cancelled, workers or min(4, os.cpu_count() or 1)
        )
    except BaseException:
        if builder.private is not None:
            shutil.rmtree(builder.private, ignore_errors=True)
        raise
    store, kept, skipped = builder.assemble(errors)
    seconds = time.perf_counter() - started
    result = BuildResult(store, kept, skipped, hits, builder.written, seconds, cancelled())
    result.notes = builder.notes
    if root is not None and builder.private is None and budget:
        prune_stream(root, budget, {s.manifest for s in store.shards})
    return result


def _stale(path: Path, now: float) -> bool:
    with contextlib.suppress(OSError):
        return now - os.lstat(path).st_mtime > STALE_SECONDS
    return False


def _sweep(group: Path, now: float) -> None:
    """Leftovers of runs that died: temp files, and data files whose manifest never came."""
    for path in group.iterdir():
        name = path.name
        temp = name.endswith(".tmp") and SHARD_NAME.fullmatch(name[:-4])
        orphan = SHARD_NAME.fullmatch(name) and name.endswith(".bin")
        if orphan and path.with_suffix(".json").exists():
            orphan = None
        if (temp or orphan) and _stale(path, now):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def prune_stream(root: Path, budget: int, keep: set[Path]) -> int:
    """Hold ``root``'s shards to ``budget`` bytes, least recently used first, never one in
    ``keep``; clear what dead runs left. Only medview's own names are ever deleted."""
    now, entries = time.time(), []
    for group in root.iterdir():
        if group.is_symlink() or not group.is_dir():
            continue
        if group.name.startswith("run-"):
            pid = group.name.split("-")[1]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(group, ignore_errors=True)
            continue
        _sweep(group, now)
        for manifest in group.glob("*.json"):
            data = manifest.with_suffix(".bin")
            if SHARD_NAME.fullmatch(manifest.name) and not data.is_symlink() and data.is_file():
                entries.append((manifest.stat().st_mtime, data.stat().st_size, manifest))
    total, freed = sum(size for _, size, _ in entries), 0
    for _, size, manifest in sorted(entries):
        if total - freed <= budget:
            break
        if manifest not in keep:
            remove_shard(manifest)
            freed += size
    return freed
