"""Small files the user names (a labels CSV, a run's config.json, ``--config FILE``), read
only when they are regular files under a size cap.

``--labels-csv /dev/zero`` read without end (MemoryError) and a FIFO hung the import
(issue 23). The file is opened non-blocking (so a FIFO without a writer does not wait),
checked with ``fstat`` on that same descriptor (no swap between check and read), and read at
most one byte past the cap.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from medview.core.errors import ReadError

MIB = 1 << 20
_BINARY = getattr(os, "O_BINARY", 0)


def read_user_file(path: str | Path, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of the regular file ``path``; ReadError naming it and the reason otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _BINARY)
    except OSError as exc:
        raise ReadError(path, f"cannot open the {what} ({exc.strerror})") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ReadError(path, f"the {what} is not a regular file")
        chunks, size = [], 0
        while size <= max_bytes and (chunk := os.read(fd, min(MIB, max_bytes + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise ReadError(path, f"the {what} is larger than {max_bytes // MIB} MiB")
        return b"".join(chunks)
    except OSError as exc:
        raise ReadError(path, f"cannot read the {what} ({exc.strerror})") from exc
    finally:
        os.close(fd)
