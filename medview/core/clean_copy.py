"""``medview clean-copy PROJECT NEW``: a usable copy of a project whose database was refused.

The copy gets a fresh database made by this medview (tables, indexes, nothing else), then the
rows of every expected table that the old database holds as a real table, column by column.
Views, triggers and unknown objects are left out, and named in the notes; the old project is
only read (opened read-only), never changed. Run folders and the npz pixel cache are copied
file by file: plain files only, never through a link.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

from medview.core import schema_check
from medview.core.containment import copy_regular_file, ensure_dir, is_real_dir
from medview.core.errors import ProjectError
from medview.core.run_store import is_safe_run_id

_NPY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\.npy")


def _open_read_only(db_path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(db_path))}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, isolation_level=None)
    connection.execute("PRAGMA trusted_schema = OFF")
    return connection


def clean_copy(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> list[str]:
    """Write the cleaned copy of project ``source`` to ``target``; returns notes (what was
    left out, how many rows were copied)."""
    from medview.core.project import Project

    src_folder, db_path, dst_folder = _folders(source, target)
    old, real_tables = _open_old(db_path)
    notes = [f"left out: {p}" for p in schema_check.problems(old)]
    try:
        for folder in ("runs", "cache"):
            ensure_dir(dst_folder.parent, dst_folder / folder)
        new = Project._connect(dst_folder)  # an empty database of this medview's schema
        try:
            with new._transaction() as db:
                notes += _copy_rows(old, db, real_tables)
            run_ids = [r[0] for r in new._query("SELECT id FROM runs")]
        finally:
            new.close()
    finally:
        old.close()
    notes += _copy_files(src_folder, dst_folder, run_ids)
    return notes


def _folders(
    source: str | os.PathLike[str], target: str | os.PathLike[str]
) -> tuple[Path, Path, Path]:
    """The source project's folder and database, and the target folder (new or empty)."""
    from medview.core.project import DB_NAME, Project

    src_folder = Project.normalise_path(source)
    db_path = src_folder / DB_NAME
    if not db_path.is_file():
        raise ProjectError(f"{src_folder}: not a medview project (no {DB_NAME})")
    dst_folder = Project.normalise_path(target)
    if dst_folder.exists() and any(dst_folder.iterdir()):
        raise ProjectError(f"{dst_folder}: exists and is not empty; pick a new folder")
    return src_folder, db_path, dst_folder


def _open_old(db_path: Path) -> tuple[sqlite3.Connection, set[str]]:
    """The old database opened read-only, and the names of its real tables."""
    try:
        old = _open_read_only(db_path)
        objects = old.execute("SELECT type, name FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ProjectError(f"{db_path}: cannot read the project database ({exc})") from exc
    return old, {name for kind, name in objects if kind == "table"}


def _copy_rows(old: sqlite3.Connection, db: sqlite3.Connection, real_tables: set[str]) -> list[str]:
    """Every expected table's rows that the old database holds, then rows pointing at
    missing rows dropped (a damaged or edited database)."""
    notes = []
    db.execute("PRAGMA defer_foreign_keys = ON")
    for name, want in schema_check.expected_objects().items():
        if want.type == "table" and name in real_tables:
            copied = _copy_table(old, db, name, want.columns)
            if copied is not None:
                notes.append(f"{name}: {copied} row(s) copied")
    dangling = db.execute("PRAGMA foreign_key_check").fetchall()
    for table, rowid, _, _ in dangling:
        db.execute(f"DELETE FROM {schema_check._quoted(table)} WHERE rowid = ?", (rowid,))
    if dangling:
        notes.append(f"{len(dangling)} row(s) pointing at missing rows left out")
    return notes


def _copy_table(
    old: sqlite3.Connection, db: sqlite3.Connection, name: str, wanted: schema_check.Columns
) -> int | None:
    """Copy the columns both sides have (hidden ones left to SQLite); the row count, or
    None when there is no such column."""
    theirs = {c[0] for c in schema_check._columns(old, "table", name)}
    columns = [str(c[0]) for c in wanted if c[0] in theirs and not c[3]]
    if not columns:
        return None
    listed = ", ".join(schema_check._quoted(c) for c in columns)
    quoted = schema_check._quoted(name)
    rows = old.execute(f"SELECT {listed} FROM {quoted}").fetchall()
    marks = ", ".join("?" * len(columns))
    db.executemany(f"INSERT OR IGNORE INTO {quoted} ({listed}) VALUES ({marks})", rows)
    return len(rows)


def _copy_files(src: Path, dst: Path, run_ids: list[str]) -> list[str]:
    """Run folders (top-level plain files) and the npz pixel cache, never through a link."""
    copied = 0
    skipped: list[str] = []
    for run_id in run_ids:
        if not is_safe_run_id(run_id):
            continue
        folder = src / "runs" / run_id
        if not is_real_dir(src, folder):
            if os.path.lexists(folder):
                skipped.append(f"runs/{run_id} (a link or not a folder)")
            continue
        target = ensure_dir(dst, dst / "runs" / run_id)
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if copy_regular_file(Path(entry.path), target / entry.name):
                copied += 1
            else:
                skipped.append(f"runs/{run_id}/{entry.name}")
    npz = src / "cache" / "npz"
    if is_real_dir(src, npz):
        target = ensure_dir(dst, dst / "cache" / "npz")
        for entry in sorted(os.scandir(npz), key=lambda e: e.name):
            if not _NPY.fullmatch(entry.name):
                continue
            if copy_regular_file(Path(entry.path), target / entry.name):
                copied += 1
    notes = [f"{copied} file(s) of run folders and the pixel cache copied"]
    if skipped:
        notes.append(f"not copied (links or not plain files): {', '.join(skipped[:10])}")
    return notes
