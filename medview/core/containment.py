"""Paths inside a project that medview may write, delete or export: never through a link.

A project folder may come from someone else, and a symbolic link inside it (``cache/tensors``
pointing at a home folder, ``runs/`` pointing at a thesis) would make medview's own clean-up
delete the link's target. ``Path.resolve()`` is no guard: it follows the link and then finds
the target "inside". So every component below the project folder is checked with ``lstat``
and a link is refused, not followed. The project folder itself may be a link (a user's own
shortcut to a project); what is inside it is what a stranger controls.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from medview.core.errors import ProjectError

# O_NOFOLLOW where the OS has it: opening refuses a link in the last component atomically,
# so a link swapped in after the lstat check is still not followed.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


class UnsafePathError(ProjectError):
    """A path inside the project is a link (or not what medview made): refused."""


def _link_error(path: Path, what: str = "") -> UnsafePathError:
    return UnsafePathError(
        f"{path} is a symbolic link{what}: medview does not follow links inside a project "
        "(it could make medview delete or read files elsewhere); nothing was touched there"
    )


def check_no_links(base: Path, path: Path) -> Path:
    """``path`` (below ``base``) with every existing component after ``base`` checked: none is a
    link. Components that do not exist yet are fine (they will be created as folders).
    Raises UnsafePathError naming the first link, or when ``path`` is not below ``base``."""
    base = Path(os.path.abspath(base))
    path = Path(os.path.abspath(path))
    try:
        relative = path.relative_to(base)
    except ValueError:
        raise UnsafePathError(f"{path} is outside the project {base}: refused") from None
    current = base
    for part in relative.parts:
        if part in ("", ".", ".."):
            raise UnsafePathError(f"{path}: '..' is not allowed inside the project")
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            break  # the rest does not exist yet
        except OSError as exc:
            raise UnsafePathError(f"{current}: cannot check it ({exc.strerror})") from exc
        if stat.S_ISLNK(info.st_mode):
            raise _link_error(current)
    return path


def ensure_dir(base: Path, path: Path) -> Path:
    """Create ``path`` (below ``base``) as real folders, refusing any link on the way."""
    check_no_links(base, path)
    base = Path(os.path.abspath(base))
    current = base
    for part in Path(os.path.abspath(path)).relative_to(base).parts:
        current = current / part
        with contextlib.suppress(FileExistsError):
            os.mkdir(current)
        info = os.lstat(current)
        if stat.S_ISLNK(info.st_mode):  # appeared between the check and now
            raise _link_error(current)
        if not stat.S_ISDIR(info.st_mode):
            raise UnsafePathError(f"{current} is not a folder")
    return current


def is_real_dir(base: Path, path: Path) -> bool:
    """``path`` is a folder below ``base`` reached without any link."""
    try:
        check_no_links(base, path)
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (OSError, UnsafePathError):
        return False


def is_regular_file(path: Path) -> bool:
    """A plain file itself, not a link (to anything), device, FIFO or socket."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def read_regular_file(path: Path, max_bytes: int | None = None) -> bytes:
    """The bytes of ``path`` if it is a plain file (never through a link). Raises OSError."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _BINARY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if max_bytes is not None and info.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"larger than {max_bytes} bytes", str(path))
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def check_replaceable(path: Path) -> None:
    """``path`` is free, or a plain file that may be replaced: a link there is refused (so is a
    folder, FIFO or device), never followed; a read-only file stays read-only (a rename
    would replace it regardless: PermissionError, as writing into it gave)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise _link_error(path, " in the output folder")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePathError(f"{path} exists and is not a plain file: not overwritten")
    if not os.access(path, os.W_OK, follow_symlinks=False):
        raise PermissionError(errno.EACCES, "read-only file, not replaced", str(path))


def _new_temp(path: Path) -> tuple[int, Path]:
    """A temp file beside ``path`` that this call created (O_EXCL: never an existing file,
    O_NOFOLLOW: never through a link planted under the temp name)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
    for _ in range(100):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise UnsafePathError(f"{path.parent}: cannot create a temp file for {path.name}")


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """Write ``path`` all at once: the data goes to a new temp file in the same folder, which
    is then renamed over ``path``. A reader never sees half a file, a crash leaves the old
    file whole, a file being read (export into its own run folder) is never truncated, and a
    link at ``path`` is refused rather than written through (UnsafePathError)."""
    path = Path(path)
    check_replaceable(path)
    fd, temp = _new_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        check_replaceable(path)  # a link swapped in meanwhile: refused (rename would replace it)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def atomic_text(path: Path, errors: str = "strict") -> Iterator[TextIO]:
    """:func:`atomic_file` as UTF-8 text with ``newline=""`` (what the csv module wants);
    ``errors="surrogateescape"`` writes a non-UTF-8 file name as the bytes it has on disk."""
    with atomic_file(path) as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="", errors=errors)
        yield text
        text.flush()
        text.detach()


def write_new_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and never through a link (:func:`atomic_file`):
    a planted link in an output folder cannot make medview overwrite its target."""
    with atomic_file(path) as handle:
        handle.write(data)


def copy_regular_file(source: Path, target: Path) -> bool:
    """Copy ``source`` to ``target`` if ``source`` is a plain file (not a link, device or
    FIFO): False, and nothing written, when it is not. ``target`` as in write_new_file (a
    copy onto its own source replaces it whole, never truncates it)."""
    try:
        src = os.open(source, os.O_RDONLY | _NOFOLLOW | _BINARY)
    except OSError:
        return False  # missing, or a link (ELOOP with O_NOFOLLOW)
    try:
        if not stat.S_ISREG(os.fstat(src).st_mode) or not is_regular_file(source):
            return False
        with atomic_file(target) as handle:
            while chunk := os.read(src, 1 << 20):
                handle.write(chunk)
    finally:
        os.close(src)
    return True
