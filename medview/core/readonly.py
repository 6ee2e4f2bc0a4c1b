"""Opening a project nobody lets us write to (a colleague's share, a read-only mount, a CD).

SQLite in its normal mode wants to create the journal beside ``project.db`` and fails with
"unable to open database file" where the folder is read-only; and a WAL database with no
``-shm`` file cannot be read there even with ``mode=ro``. So such a project is opened with a
read-only URI (``mode=ro``), and where that cannot read, as ``immutable=1`` (SQLite then
assumes nobody changes the file while we read it). Nothing is configured or migrated:
those are writes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from medview.core.errors import ProjectError


def write_problem(folder: Path, db_path: Path) -> str | None:
    """Why this process cannot write the project, or None when it can."""
    if not os.access(folder, os.W_OK):
        return "you cannot write to its folder"
    if not os.access(db_path, os.W_OK):
        return f"{db_path.name} is read-only"
    return None


def is_read_only_error(exc: sqlite3.Error) -> bool:
    """SQLite's words when it needed to write beside (or into) a read-only database."""
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or "unable to open database file" in text


def connect(db_path: Path) -> tuple[sqlite3.Connection, str]:
    """A connection that cannot write, and how it was opened (``"ro"`` or ``"immutable"``)."""
    uri = db_path.absolute().as_uri()
    last: sqlite3.Error | None = None
    for mode, query in (("ro", "mode=ro"), ("immutable", "mode=ro&immutable=1")):
        connection = None
        try:
            connection = sqlite3.connect(
                f"{uri}?{query}",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=5.0,
            )
            connection.execute("PRAGMA query_only = ON")
            connection.execute("PRAGMA trusted_schema = OFF")
            # The first read is what fails for a WAL file without its -shm in a locked folder.
            connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return connection, mode
        except sqlite3.Error as exc:
            last = exc
            if connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
    raise ProjectError(f"{db_path}: cannot open the project database read-only ({last})")


def check_schema_version(connection: sqlite3.Connection, db_path: Path, known: int) -> None:
    """A read-only project cannot be migrated: it must already be this medview's schema."""
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > known:
        raise ProjectError(
            f"{db_path}: written by a newer medview (schema {version}, this one knows {known})"
        )
    if version < known:
        raise ProjectError(
            f"{db_path}: written by an older medview (schema {version}); it must be upgraded "
            "once by opening it where it can be written (copy the project folder)"
        )
