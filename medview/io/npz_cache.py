"""The pixels of npz rows inside the project: an archive row has no file of its own, so the
importer stores each row as ``cache/npz/HASH.npy`` and ``load_item`` reads it back (from the
archive again when the cache was deleted)."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

# Siblings by their full names, not ``from medview.io import ...``: this module then does
# not depend on the package's __init__, which imports it (no cycle in the module graph).
import medview.io.hashing as hashing
import medview.io.npz as npz
from medview.core.errors import DiskFullError, ReadError, is_disk_full
from medview.core.image import Image


def npz_cache_path(project: Any, content_hash: str) -> Path:
    """Where an npz row's pixels live inside the project (rows have no file of their own).
    ``Project.cache_file`` refuses hashes that are not plain tokens (a crafted database)."""
    if hasattr(project, "cache_file"):
        return Path(project.cache_file("npz", content_hash, ".npy"))
    return Path(project.cache_dir) / "npz" / f"{content_hash}.npy"


def load_npz_item(project: Any, item: Any) -> Image:
    cached = npz_cache_path(project, item.content_hash)
    candidates = [cached]
    resolved = project.resolve_paths(item)
    if resolved:
        candidates.insert(0, Path(resolved[0]))
    for path in candidates:
        if path.is_file():
            array = np.load(path, allow_pickle=False)
            return Image(npz.row_image(array), metadata=_npz_meta(item))
    # The cache was deleted: the row can be re-read from the archive when it is still there.
    archive, key, row = item.meta.get("archive"), item.meta.get("key"), item.meta.get("row")
    if archive and key and row is not None and os.path.isfile(archive):
        data = npz.load_array(archive, key)
        if 0 <= int(row) < len(data):
            array = np.ascontiguousarray(data[int(row)])
            if hashing.hash_array(array) == item.content_hash:
                write_npz_cache(project, item.content_hash, array)
                return Image(npz.row_image(array), metadata=_npz_meta(item))
    raise ReadError(cached, f"the stored pixels of item {item.name!r} are missing")


def _npz_meta(item: Any) -> dict[str, Any]:
    return {"format": "npz", "name": item.name, **{k: item.meta[k] for k in item.meta}}


def write_npz_cache(project: Any, content_hash: str, row: np.ndarray) -> Path:
    """Store one npz row in the project cache (atomically, so a crash leaves no half file)."""
    return store_npz_row(project, content_hash, row)[0]


def store_npz_row(project: Any, content_hash: str, row: np.ndarray) -> tuple[Path, bool]:
    """:func:`write_npz_cache`, also saying whether this call created the file (an import
    that fails later removes only the files it created). The temporary file is removed on
    every failure; a full disk raises DiskFullError."""
    path = npz_cache_path(project, content_hash)
    if path.is_file():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with contextlib.suppress(OSError):
        os.unlink(temp)  # a stale one of ours (a killed import); "xb" never follows a link
    try:
        with open(temp, "xb") as handle:
            np.save(handle, np.ascontiguousarray(row), allow_pickle=False)
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if is_disk_full(exc):
            raise DiskFullError(
                f"{path.parent}: the disk is full (no space left to store imported pixels)"
            ) from exc
        raise
    return path, True
