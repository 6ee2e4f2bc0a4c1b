"""The streaming cache's files: shards of fixed-size item records, memory-mapped for reading.

A shard is two files in ``cache/stream/<group>/``: ``<id>.bin`` (the items' stored values, one
record after another, all in one codec) and ``<id>.json`` (its manifest: codec, item shape,
the items' keys, scales and shifts, the byte count and a CRC-32 of the data). The manifest is
written last, by rename, after the data is on disk: a shard without one (a run killed while
writing, a full disk) is never read, and one whose size or checksum disagrees with its
manifest is removed and rebuilt.

Reading maps the file and copies records out; the pages a batch touched are then dropped from
the process (``MADV_DONTNEED``), so resident memory stays at a few batches however large the
cache is (the kernel's page cache still keeps the file warm between epochs).
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import re
import shutil
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.stream_codec import CODECS, decode

FORMAT = 1
SHARD_NAME = re.compile(r"[0-9a-f]{24}\.(bin|json)")
_CHUNK = 16 * 1024 * 1024
_PAGE = mmap.PAGESIZE
_verified: dict[tuple[str, int, int], bool] = {}  # (path, size, mtime): checked this process


@dataclass
class Shard:
    data: Path
    codec: str
    item_shape: tuple[int, ...]
    keys: list[str]
    scales: list[float]
    shifts: list[float]
    nbytes: int
    crc32: int
    _map: mmap.mmap | None = field(default=None, repr=False)

    @property
    def manifest(self) -> Path:
        return self.data.with_suffix(".json")

    @property
    def item_bytes(self) -> int:
        return int(np.prod(self.item_shape)) * CODECS[self.codec].itemsize

    def view(self, slot: int) -> np.ndarray:
        """Record ``slot`` as an array backed by the file (read-only, no copy)."""
        if self._map is None:
            with open(self.data, "rb") as fh:
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        count = int(np.prod(self.item_shape))
        start = slot * self.item_bytes
        flat = np.frombuffer(self._map, CODECS[self.codec], count=count, offset=start)
        return flat.reshape(self.item_shape)

    def release(self, slot: int) -> None:
        """Drop the record's pages from this process (they stay in the page cache)."""
        if self._map is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        start = slot * self.item_bytes
        aligned = start - start % _PAGE
        with contextlib.suppress(OSError, ValueError):
            self._map.madvise(mmap.MADV_DONTNEED, aligned, start + self.item_bytes - aligned)

    def close(self) -> None:
        if self._map is not None:
            with contextlib.suppress(BufferError):  # a view still alive: the GC closes it
                self._map.close()
            self._map = None


def manifest_json(shard: Shard, group: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "group": group,
        "codec": shard.codec,
        "item_shape": list(shard.item_shape),
        "keys": shard.keys,
        "scales": shard.scales,
        "shifts": shard.shifts,
        "bytes": shard.nbytes,
        "crc32": shard.crc32,
    }


def _from_manifest(path: Path) -> Shard | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("codec") not in CODECS:
            return None
        keys = [str(k) for k in meta["keys"]]
        scales = [float(s) for s in meta["scales"]]
        shifts = [float(s) for s in meta["shifts"]]
        shape = tuple(int(s) for s in meta["item_shape"])
        shard = Shard(
            path.with_suffix(".bin"),
            meta["codec"],
            shape,
            keys,
            scales,
            shifts,
            int(meta["bytes"]),
            int(meta["crc32"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not len(keys) == len(scales) == len(shifts) or shard.nbytes != len(keys) * shard.item_bytes:
        return None
    return shard


def file_crc32(path: Path) -> int:
    """CRC-32 of a file, read in chunks (bounded memory; zlib releases the GIL)."""
    crc = 0
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def is_intact(shard: Shard) -> bool:
    """The data file exists, is a plain file of the manifest's size and checksum. A shard
    checked once in this process is not read again (folds and predictions reuse it)."""
    try:
        info = os.lstat(shard.data)
    except OSError:
        return False
    if not os.path.isfile(shard.data) or os.path.islink(shard.data) or info.st_size != shard.nbytes:
        return False
    stamp = (str(shard.data), info.st_size, info.st_mtime_ns)
    if stamp not in _verified:
        _verified[stamp] = file_crc32(shard.data) == shard.crc32
    return _verified[stamp]


def remove_shard(manifest: Path) -> None:
    """Manifest first: from that moment the data file is garbage nobody trusts."""
    for path in (manifest, manifest.with_suffix(".bin")):
        with contextlib.suppress(OSError):
            path.unlink()


def open_group(folder: Path, item_shape: tuple[int, ...]) -> tuple[list[Shard], list[str]]:
    """The intact shards of one preprocessing group, and notes on those removed as damaged."""
    shards: list[Shard] = []
    notes: list[str] = []
    if not folder.is_dir():
        return shards, notes
    for manifest in sorted(folder.glob("*.json")):
        if not SHARD_NAME.fullmatch(manifest.name) or os.path.islink(manifest):
            continue
        shard = _from_manifest(manifest)
        if shard is not None and shard.item_shape != item_shape:
            continue  # another shape under the same key: not ours to judge
        if shard is not None and is_intact(shard):
            shards.append(shard)
            continue
        remove_shard(manifest)
        notes.append(f"stream cache: {manifest.with_suffix('.bin')} was damaged; rebuilt")
    return shards, notes


@dataclass
class StreamStore:
    """The items of one run, wherever they live: record ``slots[k]`` of ``shards[...]``."""

    shards: list[Shard]
    slots: list[tuple[int, int]]  # (shard index, record) of item k
    item_shape: tuple[int, ...]
    private_dir: Path | None = None  # deleted on close (a store that may not outlive the run)

    def __len__(self) -> int:
        return len(self.slots)

    def item(self, k: int, out: np.ndarray | None = None) -> np.ndarray:
        shard_no, record = self.slots[k]
        shard = self.shards[shard_no]
        values = decode(
            shard.view(record), shard.codec, shard.scales[record], shard.shifts[record], out
        )
        shard.release(record)
        return values

    def batch(self, indices: Sequence[int] | torch.Tensor, pin: bool = False) -> torch.Tensor:
        """Items as one float32 (B, *item_shape) tensor, read from the maps (into pinned
        memory with ``pin``, ready for a non-blocking copy to the GPU)."""
        ks = indices.tolist() if isinstance(indices, torch.Tensor) else list(indices)
        batch = torch.empty((len(ks), *self.item_shape), dtype=torch.float32, pin_memory=pin)
        out = batch.numpy()
        for i, k in enumerate(ks):
            self.item(int(k), out[i])
        return batch

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.shards)

    def close(self) -> None:
        for shard in self.shards:
            shard.close()
        if self.private_dir is not None:
            shutil.rmtree(self.private_dir, ignore_errors=True)
            self.private_dir = None
