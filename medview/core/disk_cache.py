"""Keep a cache folder under a size budget by removing the least recently used entries.

Preprocessed tensors can reach gigabytes on a large 3D project; without a budget the
project's ``cache/`` would grow with every new size or preprocessing setting tried.

Pruning deletes files, in a folder that may come with someone else's project, so it deletes
only what medview itself wrote there (issue 10: a ``cache/tensors`` link to a home folder lost
a user's thesis):

* the folder must be a real folder inside the project (no link on the way, see
  ``containment``) that carries medview's marker file, written when medview made it;
* an entry must carry medview's naming (``ab/ab…40 hex….npy`` for tensors), be a plain file
  (not a link) and sit in a real sub-folder; anything else in the folder is left alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from medview.core.containment import (
    UnsafePathError,
    check_no_links,
    ensure_dir,
    is_regular_file,
    write_new_file,
)

MARKER = ".medview-cache"
_MARKER_TEXT = b"medview cache: files here are written and pruned by medview\n"
# Tensor cache entries: a 40-hex SHA-1 key in the shard folder named by its first 2 digits.
TENSOR_ENTRY = re.compile(r"(?P<shard>[0-9a-f]{2})/(?P=shard)[0-9a-f]{38}\.npy")


def budget_bytes(variable: str, default_mb: int) -> int:
    """A budget in bytes from an environment variable in MiB (0 or less: no limit)."""
    try:
        megabytes = int(os.environ.get(variable, default_mb))
    except ValueError:
        megabytes = default_mb
    return megabytes * 1024 * 1024 if megabytes > 0 else 0


def cache_folder(project_folder: Path, *parts: str) -> Path:
    """``PROJECT/cache/PARTS`` as real folders (a link anywhere below the project is refused
    with UnsafePathError), marked as medview's own cache."""
    folder = ensure_dir(project_folder, Path(project_folder, "cache", *parts))
    marker = folder / MARKER
    if not is_regular_file(marker):
        write_new_file(marker, _MARKER_TEXT)
    return folder


def is_marked(folder: Path) -> bool:
    return is_regular_file(folder / MARKER)


def touch(path: Path) -> None:
    """Mark a cache entry as just used (a hit), so pruning keeps it longest."""
    with contextlib.suppress(OSError, NotImplementedError):
        os.utime(path, follow_symlinks=False)


def _entries(folder: Path, entry: re.Pattern[str]) -> Iterable[tuple[float, int, Path]]:
    """(mtime, size, path) of medview's entries under ``folder``; links never followed."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in files:
            path = Path(root, name)
            relative = path.relative_to(folder).as_posix()
            if not entry.fullmatch(relative):
                continue
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                yield info.st_mtime, info.st_size, path


def prune(
    folder: Path,
    max_bytes: int,
    keep: Iterable[Path] = (),
    *,
    entry: re.Pattern[str] = TENSOR_ENTRY,
    base: Path | None = None,
) -> int:
    """Delete medview's oldest entries (by modification time) until they fit ``max_bytes``.
    Files in ``keep`` (those the current run uses) are never deleted. ``base`` is the project
    folder: no component between it and ``folder`` may be a link. Returns bytes freed; 0 when
    the folder is not medview's (a link, no marker)."""
    if max_bytes <= 0:
        return 0
    folder = Path(os.path.abspath(folder))
    try:
        check_no_links(base if base is not None else folder.parent, folder)
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return 0
    except (OSError, UnsafePathError):
        return 0
    if not is_marked(folder):
        return 0
    protected = {os.path.abspath(p) for p in keep}
    entries = sorted(_entries(folder, entry))
    total = sum(size for _, size, _ in entries)
    freed = 0
    for _, size, path in entries:
        if total - freed <= max_bytes:
            break
        if str(path) in protected:
            continue
        try:
            path.unlink()
            freed += size
        except OSError:
            continue
    return freed
