"""Small files the user names (a labels CSV, a run's config.json, ``--config FILE``), read
only when they are regular files under a size cap.

``--labels-csv /dev/zero`` read without end (MemoryError) and a FIFO hung the import
(issue 23). The file is opened non-blocking (so a FIFO without a writer does not wait),
checked with ``fstat`` on that same descriptor (no swap between check and read), and read at
most one byte past the cap.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

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


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json_object(
    path: str | Path, max_bytes: int = 16 * MIB, what: str = "file"
) -> dict[str, Any]:
    """A JSON object from ``path`` (a run's config.json, ``--config FILE``); ReadError naming
    the file and what is wrong: not a regular file, too large, not JSON, NaN or Infinity,
    nested too deep (100k brackets raised RecursionError), or not an object."""
    data = read_user_file(path, max_bytes, what)
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError as exc:
        raise ReadError(path, f"the {what} is nested too deep to be a medview file") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReadError(path, f"the {what} is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ReadError(path, f"the {what} is not a JSON object")
    return value
