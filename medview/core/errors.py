"""The project's own error types.

Every failure that a user can cause (a bad file, a wrong argument, a missing project) is
raised as a ``MedviewError`` with a message that names the thing and the reason, so the CLI
and the window can show it without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class MedviewError(Exception):
    """A user-facing error: the message is shown as it is."""


class ReadError(MedviewError):
    """A file (or series) could not be read. ``path`` names it, ``reason`` says why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ProjectError(MedviewError):
    """The project store refused an operation (missing project, unknown item or class...)."""


class DiskFullError(ProjectError):
    """No space left to write the project (ENOSPC, a quota, or SQLite's "disk is full").
    Whatever wrote in bulk (an import) stops at the first one rather than failing item by
    item: every later write would fail the same way."""


_DISK_FULL_ERRNOS = {28, 122}  # ENOSPC, EDQUOT (Linux; macOS's EDQUOT is 69)


def is_disk_full(exc: BaseException) -> bool:
    """True for a "no space left" failure: an OSError with ENOSPC/EDQUOT, SQLite's
    SQLITE_FULL, or a DiskFullError."""
    import errno
    import sqlite3

    if isinstance(exc, DiskFullError):
        return True
    if isinstance(exc, OSError):
        codes = {errno.ENOSPC, getattr(errno, "EDQUOT", 122)} | _DISK_FULL_ERRNOS
        return exc.errno in codes
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or (
            "disk is full" in str(exc)
        )
    return False
