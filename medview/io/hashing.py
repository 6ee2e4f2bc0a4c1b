"""Content hashes: how medview recognises the same image after it was copied or moved.

blake2b is in the standard library, faster than sha256 in pure software and collision-safe
for this purpose; a 20-byte digest keeps the hex short enough to show in a table.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

import numpy as np

_CHUNK = 1 << 20
_DIGEST = 20


def hash_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=_DIGEST).hexdigest()


def hash_file(path: str | os.PathLike[str]) -> str:
    """Hash of a file's bytes (read in 1 MiB chunks, so any size is fine)."""
    digest = hashlib.blake2b(digest_size=_DIGEST)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_series(file_hashes: Iterable[str]) -> str:
    """Hash of a DICOM series: over its files' hashes in sorted order, so neither the file
    names nor the order the folder lists them in change it."""
    digest = hashlib.blake2b(digest_size=_DIGEST)
    for value in sorted(file_hashes):
        digest.update(value.encode("ascii"))
    return digest.hexdigest()


def hash_array(array: np.ndarray) -> str:
    """Hash of an in-memory array (an npz row): its bytes plus shape and dtype, so a reshaped
    or re-typed copy of the same bytes is a different item."""
    data = np.ascontiguousarray(array)
    digest = hashlib.blake2b(digest_size=_DIGEST)
    digest.update(f"{data.dtype.str}|{','.join(map(str, data.shape))}|".encode())
    digest.update(data.tobytes())
    return digest.hexdigest()
