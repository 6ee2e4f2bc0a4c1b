"""An item's files as the database names them: which are there, whether they are safe and
small enough to open, and the warning for slices deleted since the import."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medview.core.errors import ReadError
from medview.core.image import Image


def present_paths(project: Any, item: Any) -> tuple[list[str], list[str]]:
    """(files there, files missing) of an item whose files are not all where they were: of
    its absolute paths and its paths relative to the project, the set with more files on
    disk (then: with more of their folders still there), so a missing file is named where
    the data is now, not at a location that moved."""
    options = [list(item.paths)]
    if getattr(item, "rel_paths", None):
        options.append([os.path.normpath(os.path.join(project.folder, p)) for p in item.rel_paths])
    best: tuple[list[str], list[str]] = ([], list(options[0]))
    best_score = (-1, -1)
    for option in options:
        present = [p for p in option if os.path.isfile(p)]
        folders = sum(1 for p in option if os.path.isdir(os.path.dirname(p)))
        if (len(present), folders) > best_score:
            best_score = (len(present), folders)
            best = (present, [p for p in option if p not in present])
    return best


def warn_missing_slices(image: Image, missing: list[str], total: int) -> None:
    """A series with files deleted since import loads the rest; say which are missing."""
    names = ", ".join(Path(p).name for p in missing[:5]) + (", ..." if len(missing) > 5 else "")
    if len(missing) == 1:
        text = f"{names} is missing (deleted or moved since import)"
    else:
        text = f"{len(missing)} of {total} slice files are missing ({names})"
    shown = image.shape[0]
    warning = f"{text}: showing the other {shown} slice(s), with a gap where it was"
    if len(missing) > 1:
        warning = f"{text}: showing the other {shown} slice(s), with gaps where they were"
    image.metadata["warnings"] = [warning, *image.metadata.get("warnings", [])]
    image.metadata["missing_files"] = [Path(p).name for p in missing]


def check_item_files(paths: Sequence[str]) -> None:
    """An item's files must be regular files of a sane total size, checked before any is
    opened: the paths come from the project database, and a crafted one (/dev/zero, a FIFO)
    would make a reader wait or read forever."""
    total = 0
    for path in paths:
        try:
            info = os.stat(path)
        except OSError as exc:
            raise ReadError(path, f"cannot open ({exc.strerror or exc})") from exc
        if not stat.S_ISREG(info.st_mode):
            raise ReadError(path, "not a regular file (a device, FIFO or socket): not read")
        total += info.st_size
    limit = max_item_bytes()
    if total > limit:
        raise ReadError(
            paths[0],
            f"the item's files hold {total:,} bytes, more than the limit of {limit:,} "
            "(set MEDVIEW_MAX_VOXELS to raise it)",
        )


def max_item_bytes() -> int:
    """The largest item read: 16 bytes per voxel of the voxel ceiling (16 GiB by default),
    room for float64 data plus headers, far above any real series."""
    from medview.io.limits import max_voxels

    return 16 * max_voxels()
