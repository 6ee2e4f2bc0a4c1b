"""The database connection under a project: one connection, a lock, committed transactions.

Why: every write is its own committed transaction (WAL + ``synchronous=FULL``, see
``schema.configure``), so whatever a call wrote is on disk before it returns. The lock lets
the GUI's worker threads share one connection; other processes open their own (WAL allows it).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from medview.core.errors import DiskFullError, ProjectError, is_disk_full

DB_NAME = "project.db"  # the database file inside a project folder


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_user() -> str:
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER") or os.environ.get("USERNAME") or "user"


class Store:
    # Set by Project.open for a project opened read-only (a colleague's share); every store
    # mixin that writes refuses then.
    read_only: bool = False
    read_only_reason: str = ""
    read_only_mode: str = ""  # "ro", or "immutable" (changes by others are then not seen)

    def __init__(self, folder: Path, connection: sqlite3.Connection, journal_mode: str) -> None:
        self.folder = folder
        self._db: sqlite3.Connection | None = connection
        self._lock = threading.RLock()
        self.journal_mode = journal_mode
        self._damaged: dict[str, str] = {}  # "table id" -> what is wrong (see damaged_rows)

    @property
    def db_path(self) -> Path:
        return self.folder / DB_NAME

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction; BEGIN IMMEDIATE so writers queue instead of failing."""
        with self._lock:
            if self._db is None:
                raise ProjectError(f"{self.folder}: the project is closed")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    # SQLite may have rolled back already (a full disk does): then ROLLBACK
                    # fails, and that must not hide the error that caused it.
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                # "database or disk is full", "disk I/O error", a lock held too long: a
                # one-line reason naming the project, not an internal error.
                with suppress(sqlite3.Error):
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                kind = DiskFullError if is_disk_full(exc) else ProjectError
                raise kind(f"{self.folder}: cannot write the project ({exc})") from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            if self._db is None:
                raise ProjectError(f"{self.folder}: the project is closed")
            cursor = self._db.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def note_damaged(self, key: str, message: str) -> None:
        """Remember a row that could not be read (skipped, not fatal: one bad row of
        someone's hand-edited database must not take the whole project down)."""
        with self._lock:
            self._damaged[key] = message

    def damaged_rows(self) -> list[str]:
        """One line per damaged row met so far (by items(), runs(), predictions())."""
        with self._lock:
            return list(self._damaged.values())

    def integrity_check(self) -> str:
        """``"ok"`` when SQLite finds the database sound."""
        return str(self._query("PRAGMA integrity_check")[0][0])

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
