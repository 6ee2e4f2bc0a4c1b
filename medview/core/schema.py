"""The project database schema and its migrations.

``SCHEMA_VERSION`` is stored in ``PRAGMA user_version``. Each entry of ``MIGRATIONS`` takes the
database from version i to i + 1 inside one transaction, so a project made by an older medview
is upgraded when it is opened and a crash mid-upgrade leaves the old version intact.
"""

from __future__ import annotations

import sqlite3

from medview.core.errors import ProjectError

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE classes (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    color TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('2d', '3d')),
    reader TEXT NOT NULL,
    paths TEXT NOT NULL,
    rel_paths TEXT,
    shape TEXT NOT NULL,
    spacing TEXT NOT NULL,
    size_bytes INTEGER,
    content_hash TEXT NOT NULL,
    group_id TEXT,
    split TEXT CHECK (split IN ('train', 'val', 'test')),
    class_id INTEGER REFERENCES classes (id) ON DELETE SET NULL,
    labelled_at TEXT,
    added_at TEXT NOT NULL,
    meta TEXT
);
CREATE INDEX items_hash ON items (content_hash);
CREATE INDEX items_class ON items (class_id);
CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    class_id INTEGER REFERENCES classes (id) ON DELETE SET NULL,
    who TEXT,
    at TEXT NOT NULL
);
CREATE INDEX labels_item ON labels (item_id);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    model TEXT,
    config TEXT,
    metrics TEXT,
    started_at TEXT,
    finished_at TEXT,
    message TEXT,
    pid INTEGER,
    host TEXT
);
CREATE TABLE predictions (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    fold INTEGER NOT NULL,
    split TEXT,
    probabilities TEXT NOT NULL,
    predicted TEXT,
    at TEXT NOT NULL,
    PRIMARY KEY (run_id, item_id, fold)
);
CREATE INDEX predictions_item ON predictions (item_id);
"""

# Version 2: model studies (training/studies/study.py, training/studies/tune.py). A study groups
# runs that
# share folds, seed, preprocessing and budget; each run points at its study (NULL: a plain run).
_V2 = """
CREATE TABLE studies (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('compare', 'tune')),
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    message TEXT
);
ALTER TABLE runs ADD COLUMN study_id TEXT REFERENCES studies (id) ON DELETE SET NULL;
CREATE INDEX runs_study ON runs (study_id);
"""

# Version 3: perceptual hashes (medview.io.phash), one per item, made at import; the
# near-duplicate groups and the leakage audit's near-duplicate count read them.
_ITEM_PHASH = """
CREATE TABLE item_phash (
    item_id INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
    phash TEXT NOT NULL
);
"""

# Version 4: key slices (medview.core.key_slice_store): the slice of a volume the user marked
# for training (``--slices key``), one per volume, along the array axis they looked at.
_KEY_SLICE = """
CREATE TABLE item_key_slice (
    item_id INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
    axis INTEGER NOT NULL CHECK (axis IN (0, 1, 2)),
    slice INTEGER NOT NULL CHECK (slice >= 0),
    who TEXT,
    at TEXT NOT NULL
);
"""

# Version 5: items that are one part of a file (a scene / position / series of a microscope
# file, and a time point where T is split). Their content_hash stays the identity the importer
# deduplicates on, made from the file's hash and these indexes (medview.io.formats.bioimage);
# the columns say which part of the file to read. NULL for items that are a whole file.
_ITEM_PART = """
ALTER TABLE items ADD COLUMN file_hash TEXT;
ALTER TABLE items ADD COLUMN scene INTEGER CHECK (scene >= 0);
ALTER TABLE items ADD COLUMN time_index INTEGER CHECK (time_index >= 0);
CREATE INDEX items_file_hash ON items (file_hash);
"""

MIGRATIONS: list[str] = [_V1, _V2, _ITEM_PHASH, _KEY_SLICE, _ITEM_PART]
SCHEMA_VERSION = len(MIGRATIONS)


def configure(connection: sqlite3.Connection) -> str:
    """Durability settings. Returns the journal mode in force.

    WAL needs shared memory, which network file systems (NFS, SMB) do not give reliably; there
    SQLite refuses WAL (or the user forces it off with MEDVIEW_JOURNAL=delete) and we fall back
    to the rollback journal, which is slower but safe.
    """
    import os

    connection.execute("PRAGMA foreign_keys = ON")
    # A project file may come from someone else: SQL functions in its triggers and views run
    # only if they are harmless (no side effects), whatever the schema says.
    connection.execute("PRAGMA trusted_schema = OFF")
    connection.execute("PRAGMA busy_timeout = 30000")
    wanted = os.environ.get("MEDVIEW_JOURNAL", "wal").lower()
    mode = "delete"
    if wanted == "wal":
        try:
            mode = str(connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError:
            mode = "delete"
    if mode != "wal":
        mode = str(connection.execute("PRAGMA journal_mode = DELETE").fetchone()[0]).lower()
    connection.execute("PRAGMA synchronous = FULL")
    return mode


def migrate(connection: sqlite3.Connection) -> bool:
    """Bring the database to SCHEMA_VERSION; True when a migration ran."""
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"the project was written by a newer medview (schema {version}, this one "
            f"knows {SCHEMA_VERSION}); update medview to open it"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[target - 1].split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    return version < SCHEMA_VERSION
