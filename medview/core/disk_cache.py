"""Keep a cache folder under a size budget by removing the least recently used files.

Preprocessed tensors can reach gigabytes on a large 3D project; without a budget the
project's ``cache/`` would grow with every new size or preprocessing setting tried.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path


def budget_bytes(variable: str, default_mb: int) -> int:
    """A budget in bytes from an environment variable in MiB (0 or less: no limit)."""
    try:
        megabytes = int(os.environ.get(variable, default_mb))
    except ValueError:
        megabytes = default_mb
    return megabytes * 1024 * 1024 if megabytes > 0 else 0


def touch(path: Path) -> None:
    """Mark a cache entry as just used (a hit), so pruning keeps it longest."""
    with contextlib.suppress(OSError):
        os.utime(path)


def prune(folder: Path, max_bytes: int, keep: Iterable[Path] = ()) -> int:
    """Delete the oldest files (by modification time) until ``folder`` fits ``max_bytes``.
    Files in ``keep`` (those the current run uses) are never deleted. Returns bytes freed."""
    if max_bytes <= 0 or not folder.is_dir():
        return 0
    protected = {Path(p).resolve() for p in keep}
    entries: list[tuple[float, int, Path]] = []
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_symlink() or not path.is_file():
                continue
            stat = path.stat()
        except OSError:
            continue
        total += stat.st_size
        entries.append((stat.st_mtime, stat.st_size, path))
    freed = 0
    for _, size, path in sorted(entries):
        if total - freed <= max_bytes:
            break
        if path.resolve() in protected:
            continue
        try:
            path.unlink()
            freed += size
        except OSError:
            continue
    return freed
