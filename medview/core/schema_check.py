"""Check a project database's schema before anything reads it.

A project.db may come from someone else, edited by hand: a recursive view in place of the
``items`` table hung ``medview info`` at 100% CPU, a trigger rewrote every label given. So on
open, every object in ``sqlite_master`` must be one the schema's own migrations create, with
the same kind (a table is a table) and the same columns; views, triggers and unknown objects
are refused with a message naming them (``clean_copy`` writes a usable copy without them).

The expected objects are derived by running ``schema.MIGRATIONS`` on an in-memory database,
so a table added to the schema is expected without any change here. SQLite's own objects
(``sqlite_sequence``, ``sqlite_stat*``, the automatic indexes of UNIQUE / PRIMARY KEY) are
tolerated. Reading ``sqlite_master`` and ``PRAGMA table_xinfo`` runs no view or trigger.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from medview.core import schema
from medview.core.errors import ProjectError

_INTERNAL_TABLES = re.compile(r"sqlite_(sequence|stat[1-4])")
_AUTOINDEX = re.compile(r"sqlite_autoindex_(?P<table>.+)_\d+")


class SchemaError(ProjectError):
    """The project database holds objects medview did not make: refused."""

    def __init__(self, db_path: Path, problems: list[str]) -> None:
        self.db_path = db_path
        self.problems = problems
        folder = db_path.parent
        super().__init__(
            f"{db_path}: refused to open: {'; '.join(problems)} (the database was changed "
            "outside medview and could hang or rewrite the project). To work on it, write a "
            f"cleaned copy: medview clean-copy {folder} NEW_FOLDER"
        )


@dataclass(frozen=True)
class Expected:
    type: str  # "table" | "index"
    table: str  # the table an index belongs to (the table itself for a table)
    columns: tuple[tuple[object, ...], ...]  # a table's (name, type, pk, hidden); an index's names


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


Columns = tuple[tuple[object, ...], ...]


def _columns(connection: sqlite3.Connection, kind: str, name: str) -> Columns:
    if kind == "index":  # (seqno, cid, name): an expression column has no name
        return tuple((r[2],) for r in connection.execute(f"PRAGMA index_info({_quoted(name)})"))
    rows = connection.execute(f"PRAGMA table_xinfo({_quoted(name)})")
    # (cid, name, type, notnull, default, pk, hidden): hidden marks generated columns
    return tuple((r[1], str(r[2]).upper(), int(r[5]), int(r[6])) for r in rows)


@functools.lru_cache(maxsize=16)
def _expected_for(migrations: tuple[str, ...]) -> dict[str, Expected]:
    memory = sqlite3.connect(":memory:")
    try:
        for migration in migrations:
            for statement in migration.split(";"):
                if statement.strip():
                    memory.execute(statement)
        objects = memory.execute("SELECT type, name, tbl_name FROM sqlite_master").fetchall()
        expected = {}
        for kind, name, table in objects:
            if _is_internal(kind, name, None):
                continue
            expected[name] = Expected(kind, table, _columns(memory, kind, name))
        return expected
    finally:
        memory.close()


def expected_objects(version: int | None = None) -> dict[str, Expected]:
    """Name -> what the schema at ``version`` (default: the current one) holds."""
    migrations = schema.MIGRATIONS if version is None else schema.MIGRATIONS[:version]
    return _expected_for(tuple(migrations))


def _is_internal(kind: str, name: str, sql: str | None) -> bool:
    if kind == "table" and _INTERNAL_TABLES.fullmatch(name):
        return True
    return kind == "index" and sql is None and bool(_AUTOINDEX.fullmatch(name))


def problems(connection: sqlite3.Connection, version: int | None = None) -> list[str]:
    """What is wrong with the schema, one phrase per object naming it ([] when sound)."""
    expected = expected_objects(version)
    found: dict[str, tuple[str, str, str | None]] = {}
    out: list[str] = []
    for kind, name, table, sql in connection.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master"
    ):
        if _is_internal(kind, name, sql):
            continue
        found[name] = (kind, table, sql)
        want = expected.get(name)
        if want is None:
            out.append(f"unexpected {kind} {name!r}")
        elif kind != want.type:
            out.append(f"{kind} {name!r} in place of the {want.type} {name!r}")
        elif kind == "table" and str(sql or "").lstrip().upper().startswith("CREATE VIRTUAL"):
            out.append(f"virtual table {name!r} in place of the table {name!r}")
        elif table != want.table:
            out.append(f"{kind} {name!r} on table {table!r}, not {want.table!r}")
        elif _columns(connection, kind, name) != want.columns:
            out.append(f"{kind} {name!r} has other columns than medview's")
    for name, want in expected.items():
        if name not in found:
            out.append(f"{want.type} {name!r} is missing")
    return out


def verify(connection: sqlite3.Connection, db_path: Path) -> None:
    """Raise SchemaError unless the schema is the one for the database's version. A version
    newer than this medview knows is left to ``schema.migrate`` (which says so)."""
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > len(schema.MIGRATIONS):
        return
    found = problems(connection, version)
    if found:
        raise SchemaError(db_path, found)
