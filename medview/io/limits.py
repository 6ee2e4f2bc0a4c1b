"""Size ceilings checked from headers, before any pixel buffer is allocated.

A header can declare any size (a crafted NIfTI of 40 bytes saying 65535^3 voxels, a PNG
decompression bomb). Refusing early turns a crash or a swapped-to-death machine into a clear
``ReadError``. The ceiling can be raised with the MEDVIEW_MAX_VOXELS environment variable or
:func:`set_max_voxels` for users with really large volumes and the memory to match.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from medview.core.errors import ReadError

# 1 Gi voxels: a 1024^3 volume, 4 GiB as float32; far above any CT/MR series.
DEFAULT_MAX_VOXELS = 1 << 30
_max_voxels = int(os.environ.get("MEDVIEW_MAX_VOXELS", DEFAULT_MAX_VOXELS) or DEFAULT_MAX_VOXELS)


def max_voxels() -> int:
    return _max_voxels


def set_max_voxels(value: int) -> int:
    """Change the ceiling (elements, channels included); returns the previous one."""
    global _max_voxels
    previous, _max_voxels = _max_voxels, int(value)
    return previous


def check_shape(path: str | Path, shape: Sequence[int], what: str = "image") -> None:
    """Refuse negative, zero-sized or absurdly large declared shapes."""
    dims = [int(s) for s in shape]
    if not dims or any(d <= 0 for d in dims):
        raise ReadError(path, f"{what} has an empty or invalid size {tuple(dims)}")
    total = math.prod(dims)
    if total > _max_voxels:
        raise ReadError(
            path,
            f"{what} declares {'x'.join(map(str, dims))} = {total:,} values, more than the "
            f"limit of {_max_voxels:,} (set MEDVIEW_MAX_VOXELS to raise it)",
        )
