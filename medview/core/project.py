"""The project: a folder ``NAME.medview/`` with ``project.db`` (SQLite), ``runs/`` and ``cache/``.

Why it is built this way:

* Every write is its own committed transaction (WAL + ``synchronous=FULL``), so a label is on
  disk before ``set_label`` returns and a killed process loses nothing that was acknowledged.
* Images are referenced, not copied: absolute path, path relative to the project, size and a
  content hash, so a moved data folder can be re-linked by hash.
* One connection per ``Project`` guarded by a lock, so the GUI's worker threads can share it;
  other processes (the training worker, the CLI) open their own connection, which WAL allows.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medview.core import schema
from medview.core.errors import ProjectError
from medview.core.labels import LabelClass, color_for, validate_class_name, validate_class_names

PROJECT_SUFFIX = ".medview"
DB_NAME = "project.db"
SPLITS = ("train", "val", "test")
RUN_STATUSES = ("running", "finished", "failed", "cancelled", "interrupted")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_user() -> str:
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER") or os.environ.get("USERNAME") or "user"


@dataclass
class Item:
    """One importable thing: a 2D image, a volume or a DICOM series."""

    id: int
    name: str
    kind: str  # "2d" | "3d"
    reader: str  # "dicom" | "nifti" | "raster" | "npz"
    paths: list[str]  # absolute source paths (a DICOM series has one per file)
    rel_paths: list[str]  # the same paths relative to the project folder
    shape: tuple[int, ...]  # (z, y, x[, c])
    spacing: tuple[float, float, float]  # (z, y, x) mm
    size_bytes: int
    content_hash: str
    group: str | None = None
    split: str | None = None
    label: str | None = None
    labelled_at: str | None = None
    added_at: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """The first source path (the file, or the first file of a series)."""
        return self.paths[0] if self.paths else ""

    def to_json(self) -> dict[str, Any]:
        """The ``items --json`` object (DESIGN.md section 3)."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "shape": list(self.shape),
            "spacing": list(self.spacing),
            "label": self.label,
            "split": self.split,
            "group": self.group,
            "source": self.path,
        }


@dataclass
class Run:
    id: str
    status: str
    model: str | None
    config: dict[str, Any]
    metrics: dict[str, Any]
    started_at: str | None
    finished_at: str | None
    message: str | None


@dataclass
class Prediction:
    run_id: str
    item_id: int
    fold: int
    split: str | None
    probabilities: list[float]
    predicted: str | None
    at: str


class Project:
    """An open project. Use :meth:`create` or :meth:`open`; close it (or use ``with``)."""

    def __init__(self, folder: Path, connection: sqlite3.Connection, journal_mode: str) -> None:
        self.folder = folder
        self._db = connection
        self._lock = threading.RLock()
        self.journal_mode = journal_mode

    # ------------------------------------------------------------------ opening and closing
    @staticmethod
    def normalise_path(path: str | os.PathLike[str]) -> Path:
        folder = Path(path).expanduser()
        if folder.suffix != PROJECT_SUFFIX and not (folder / DB_NAME).exists():
            folder = folder.with_name(folder.name + PROJECT_SUFFIX)
        return folder.absolute()

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        classes: Sequence[str] = ("WT", "MUT"),
        name: str | None = None,
    ) -> Project:
        folder = cls.normalise_path(path)
        if (folder / DB_NAME).exists():
            raise ProjectError(f"{folder}: a project already exists here")
        validate_class_names(list(classes))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "runs").mkdir(exist_ok=True)
            (folder / "cache").mkdir(exist_ok=True)
        except OSError as exc:
            raise ProjectError(
                f"{folder}: cannot create the project folder ({exc.strerror})"
            ) from exc
        project = cls._connect(folder)
        with project._transaction() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('name', ?), ('created_at', ?), ('salt', ?)",
                (
                    name or folder.name.removesuffix(PROJECT_SUFFIX),
                    now_iso(),
                    secrets.token_hex(16),
                ),
            )
            for position, class_name in enumerate(classes):
                db.execute(
                    "INSERT INTO classes(name, color, position) VALUES (?, ?, ?)",
                    (class_name, color_for(position), position),
                )
        return project

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Project:
        folder = cls.normalise_path(path)
        if not (folder / DB_NAME).is_file():
            raise ProjectError(f"{folder}: not a medview project (no {DB_NAME})")
        project = cls._connect(folder)
        project._mark_dead_runs_interrupted()
        return project

    @classmethod
    def _connect(cls, folder: Path) -> Project:
        db_path = folder / DB_NAME
        try:
            connection = sqlite3.connect(
                db_path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            journal_mode = schema.configure(connection)
            schema.migrate(connection)
        except sqlite3.DatabaseError as exc:
            raise ProjectError(f"{db_path}: cannot open the project database ({exc})") from exc
        return cls(folder, connection, journal_mode)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db_path(self) -> Path:
        return self.folder / DB_NAME

    @property
    def runs_dir(self) -> Path:
        return self.folder / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.folder / "cache"

    @property
    def name(self) -> str:
        return self.get_meta("name") or self.folder.stem

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction; BEGIN IMMEDIATE so writers queue instead of failing."""
        with self._lock:
            if self._db is None:
                raise ProjectError(f"{self.folder}: the project is closed")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            if self._db is None:
                raise ProjectError(f"{self.folder}: the project is closed")
            cursor = self._db.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def integrity_check(self) -> str:
        """``"ok"`` when SQLite finds the database sound."""
        return str(self._query("PRAGMA integrity_check")[0][0])

    # ------------------------------------------------------------------ meta and settings
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

    # ------------------------------------------------------------------ label set
    def classes(self) -> list[LabelClass]:
        rows = self._query("SELECT name, color, position FROM classes ORDER BY position")
        return [LabelClass(r["name"], r["color"], r["position"]) for r in rows]

    def class_names(self) -> list[str]:
        return [c.name for c in self.classes()]

    def _class_id(self, name: str) -> int:
        rows = self._query("SELECT id FROM classes WHERE name = ?", (name,))
        if not rows:
            known = ", ".join(self.class_names())
            raise ProjectError(f"unknown class {name!r} (classes: {known})")
        return int(rows[0]["id"])

    def add_class(self, name: str, color: str | None = None) -> LabelClass:
        validate_class_name(name)
        existing = self.classes()
        validate_class_names([c.name for c in existing] + [name])
        position = len(existing)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO classes(name, color, position) VALUES (?, ?, ?)",
                (name, color or color_for(position), position),
            )
        return LabelClass(name, color or color_for(position), position)

    def rename_class(self, old: str, new: str) -> None:
        names = self.class_names()
        class_id = self._class_id(old)
        validate_class_names([new if n == old else n for n in names])
        with self._transaction() as db:
            db.execute("UPDATE classes SET name = ? WHERE id = ?", (new, class_id))

    def recolor_class(self, name: str, color: str) -> None:
        class_id = self._class_id(name)
        with self._transaction() as db:
            db.execute("UPDATE classes SET color = ? WHERE id = ?", (color, class_id))

    def class_usage(self, name: str) -> int:
        class_id = self._class_id(name)
        return int(self._query("SELECT COUNT(*) FROM items WHERE class_id = ?", (class_id,))[0][0])

    def remove_class(self, name: str, force: bool = False) -> int:
        """Remove a class. Refuses a class in use unless ``force``; then its labels are cleared
        (recorded in the label history). Returns how many items lost their label."""
        class_id = self._class_id(name)
        in_use = self.class_usage(name)
        if in_use and not force:
            raise ProjectError(f"class {name!r} is the label of {in_use} item(s)")
        if len(self.classes()) <= 2:
            raise ProjectError("a label set needs at least two classes")
        stamp = now_iso()
        with self._transaction() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM items WHERE class_id = ?", (class_id,))]
            for item_id in ids:
                db.execute(
                    "INSERT INTO labels(item_id, class_id, who, at) VALUES (?, NULL, ?, ?)",
                    (item_id, default_user(), stamp),
                )
            db.execute(
                "UPDATE items SET class_id = NULL, labelled_at = ? WHERE class_id = ?",
                (stamp, class_id),
            )
            db.execute("UPDATE labels SET class_id = NULL WHERE class_id = ?", (class_id,))
            db.execute("DELETE FROM classes WHERE id = ?", (class_id,))
            # Keep positions dense so shortcuts stay 1..n.
            rows = db.execute("SELECT id FROM classes ORDER BY position").fetchall()
            for position, (cid,) in enumerate(rows):
                db.execute("UPDATE classes SET position = ? WHERE id = ?", (position, cid))
        return len(ids)

    # ------------------------------------------------------------------ items
    _ITEM_SELECT = (
        "SELECT items.*, classes.name AS label FROM items "
        "LEFT JOIN classes ON classes.id = items.class_id"
    )

    @staticmethod
    def _item_from_row(row: sqlite3.Row) -> Item:
        return Item(
            id=row["id"],
            name=row["name"],
            kind=row["kind"],
            reader=row["reader"],
            paths=json.loads(row["paths"]),
            rel_paths=json.loads(row["rel_paths"] or "[]"),
            shape=tuple(json.loads(row["shape"])),
            spacing=tuple(json.loads(row["spacing"])),
            size_bytes=row["size_bytes"] or 0,
            content_hash=row["content_hash"],
            group=row["group_id"],
            split=row["split"],
            label=row["label"],
            labelled_at=row["labelled_at"],
            added_at=row["added_at"],
            meta=json.loads(row["meta"] or "{}"),
        )

    def relative_path(self, path: str | os.PathLike[str]) -> str:
        try:
            return os.path.relpath(os.path.abspath(path), self.folder)
        except ValueError:  # another drive on Windows
            return os.path.abspath(path)

    def add_item(
        self,
        *,
        name: str,
        kind: str,
        reader: str,
        paths: Sequence[str | os.PathLike[str]],
        shape: Sequence[int],
        spacing: Sequence[float],
        content_hash: str,
        size_bytes: int = 0,
        group: str | None = None,
        split: str | None = None,
        label: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> int:
        """Add one item (and its label, in the same transaction). Returns the new id.

        Duplicate detection is the importer's job (``item_by_hash``): the store itself accepts
        identical content twice so the training engine's leakage audit can be tested.
        """
        if kind not in ("2d", "3d"):
            raise ProjectError(f"item kind must be '2d' or '3d', not {kind!r}")
        self._check_split(split)
        class_id = self._class_id(label) if label is not None else None
        absolute = [os.path.abspath(p) for p in paths]
        stamp = now_iso()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO items(name, kind, reader, paths, rel_paths, shape, spacing, "
                "size_bytes, content_hash, group_id, split, class_id, labelled_at, added_at, meta) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    kind,
                    reader,
                    json.dumps(absolute),
                    json.dumps([self.relative_path(p) for p in absolute]),
                    json.dumps([int(s) for s in shape]),
                    json.dumps([float(s) for s in spacing]),
                    int(size_bytes),
                    content_hash,
                    group,
                    split,
                    class_id,
                    stamp if class_id is not None else None,
                    stamp,
                    json.dumps(meta or {}),
                ),
            )
            item_id = int(cursor.lastrowid)
            if class_id is not None:
                db.execute(
                    "INSERT INTO labels(item_id, class_id, who, at) VALUES (?, ?, ?, ?)",
                    (item_id, class_id, "import", stamp),
                )
        return item_id

    def items(
        self,
        *,
        labelled: bool | None = None,
        split: str | None = None,
        kind: str | None = None,
        ids: Iterable[int] | None = None,
    ) -> list[Item]:
        """Items in id order, optionally filtered."""
        clauses: list[str] = []
        params: list[Any] = []
        if labelled is True:
            clauses.append("items.class_id IS NOT NULL")
        elif labelled is False:
            clauses.append("items.class_id IS NULL")
        if split is not None:
            clauses.append("items.split = ?")
            params.append(split)
        if kind is not None:
            clauses.append("items.kind = ?")
            params.append(kind)
        if ids is not None:
            id_list = [int(i) for i in ids]
            clauses.append(f"items.id IN ({','.join('?' * len(id_list)) or 'NULL'})")
            params.extend(id_list)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(f"{self._ITEM_SELECT}{where} ORDER BY items.id", params)
        return [self._item_from_row(r) for r in rows]

    def item_count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM items")[0][0])

    def get_item(self, item_id: int) -> Item:
        rows = self._query(f"{self._ITEM_SELECT} WHERE items.id = ?", (int(item_id),))
        if not rows:
            raise ProjectError(f"no item with id {item_id}")
        return self._item_from_row(rows[0])

    def find_item(self, ref: str | int) -> Item:
        """An item by id, or by its exact name when that name is unique."""
        text = str(ref)
        if text.isdigit():
            rows = self._query(f"{self._ITEM_SELECT} WHERE items.id = ?", (int(text),))
            if rows:
                return self._item_from_row(rows[0])
        rows = self._query(f"{self._ITEM_SELECT} WHERE items.name = ?", (text,))
        if len(rows) == 1:
            return self._item_from_row(rows[0])
        if len(rows) > 1:
            raise ProjectError(f"{len(rows)} items are named {text!r}: use the item id")
        raise ProjectError(f"no item {text!r} (give an item id or name; see 'medview items')")

    def items_by_hash(self, content_hash: str) -> list[Item]:
        rows = self._query(f"{self._ITEM_SELECT} WHERE items.content_hash = ?", (content_hash,))
        return [self._item_from_row(r) for r in rows]

    def known_hashes(self) -> set[str]:
        return {r[0] for r in self._query("SELECT content_hash FROM items")}

    def remove_items(self, item_ids: Iterable[int]) -> None:
        ids = [int(i) for i in item_ids]
        with self._transaction() as db:
            db.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])

    @staticmethod
    def _check_split(split: str | None) -> None:
        if split is not None and split not in SPLITS:
            raise ProjectError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")

    def set_split(self, item_ids: Iterable[int], split: str | None) -> None:
        self._check_split(split)
        with self._transaction() as db:
            db.executemany(
                "UPDATE items SET split = ? WHERE id = ?", [(split, int(i)) for i in item_ids]
            )

    def set_group(self, item_ids: Iterable[int], group: str | None) -> None:
        group = group.strip() if group and group.strip() else None
        with self._transaction() as db:
            db.executemany(
                "UPDATE items SET group_id = ? WHERE id = ?", [(group, int(i)) for i in item_ids]
            )

    def update_item_paths(self, item_id: int, paths: Sequence[str | os.PathLike[str]]) -> None:
        """Point an item at new files (re-linking after the data folder moved)."""
        absolute = [os.path.abspath(p) for p in paths]
        with self._transaction() as db:
            db.execute(
                "UPDATE items SET paths = ?, rel_paths = ? WHERE id = ?",
                (
                    json.dumps(absolute),
                    json.dumps([self.relative_path(p) for p in absolute]),
                    int(item_id),
                ),
            )

    def update_item_meta(self, item_id: int, **values: Any) -> None:
        item = self.get_item(item_id)
        meta = {**item.meta, **values}
        with self._transaction() as db:
            db.execute("UPDATE items SET meta = ? WHERE id = ?", (json.dumps(meta), int(item_id)))

    def resolve_paths(self, item: Item) -> list[str] | None:
        """The item's files as they are on disk now: the absolute paths, else the paths
        relative to the project (the project and its data moved together), else None."""
        if item.paths and all(os.path.exists(p) for p in item.paths):
            return list(item.paths)
        if item.rel_paths:
            moved = [os.path.normpath(os.path.join(self.folder, p)) for p in item.rel_paths]
            if all(os.path.exists(p) for p in moved):
                return moved
        return None

    def missing_items(self) -> list[Item]:
        """Items whose files cannot be found (offer re-linking for these)."""
        return [item for item in self.items() if self.resolve_paths(item) is None]

    # ------------------------------------------------------------------ labels
    def set_label(self, item_id: int, label: str | None, who: str | None = None) -> str | None:
        """Set (or clear, with None) one item's class; committed before returning.
        Returns the previous label, which undo needs."""
        return self.set_labels({item_id: label}, who=who)[int(item_id)]

    def set_labels(
        self, labels: dict[int, str | None], who: str | None = None
    ) -> dict[int, str | None]:
        """Set several labels in one transaction. Returns the previous label of each item."""
        who = who or default_user()
        class_ids = {name: self._class_id(name) for name in set(labels.values()) if name}
        stamp = now_iso()
        previous: dict[int, str | None] = {}
        with self._transaction() as db:
            for item_id, name in labels.items():
                row = db.execute(
                    "SELECT classes.name FROM items LEFT JOIN classes "
                    "ON classes.id = items.class_id WHERE items.id = ?",
                    (int(item_id),),
                ).fetchone()
                if row is None:
                    raise ProjectError(f"no item with id {item_id}")
                previous[int(item_id)] = row[0]
                class_id = class_ids[name] if name else None
                db.execute(
                    "UPDATE items SET class_id = ?, labelled_at = ? WHERE id = ?",
                    (class_id, stamp, int(item_id)),
                )
                db.execute(
                    "INSERT INTO labels(item_id, class_id, who, at) VALUES (?, ?, ?, ?)",
                    (int(item_id), class_id, who, stamp),
                )
        return previous

    def label_history(self, item_id: int) -> list[tuple[str | None, str, str]]:
        """(class or None, who, when) for every change of one item's label, oldest first."""
        rows = self._query(
            "SELECT classes.name AS name, labels.who AS who, labels.at AS at FROM labels "
            "LEFT JOIN classes ON classes.id = labels.class_id "
            "WHERE labels.item_id = ? ORDER BY labels.id",
            (int(item_id),),
        )
        return [(r["name"], r["who"], r["at"]) for r in rows]

    def label_counts(self) -> dict[str | None, int]:
        """Items per class (every class listed, zero included) and ``None`` for unlabelled."""
        counts: dict[str | None, int] = {name: 0 for name in self.class_names()}
        counts[None] = 0
        rows = self._query(
            "SELECT classes.name AS name, COUNT(*) AS n FROM items "
            "LEFT JOIN classes ON classes.id = items.class_id GROUP BY items.class_id"
        )
        for row in rows:
            counts[row["name"]] = int(row["n"])
        return counts

    # ------------------------------------------------------------------ runs
    def create_run(self, run_id: str, config: dict[str, Any], model: str | None = None) -> None:
        run_dir = self.runs_dir / run_id
        if Path(run_id).name != run_id or run_id in ("", ".", ".."):
            raise ProjectError(f"invalid run id {run_id!r}")
        run_dir.mkdir(parents=True, exist_ok=True)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs(id, status, model, config, metrics, started_at, pid, host) "
                "VALUES (?, 'running', ?, ?, '{}', ?, ?, ?)",
                (run_id, model, json.dumps(config), now_iso(), os.getpid(), socket.gethostname()),
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        metrics: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        if status not in RUN_STATUSES:
            raise ProjectError(f"run status must be one of {', '.join(RUN_STATUSES)}")
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, metrics = COALESCE(?, metrics), finished_at = ?, "
                "message = ? WHERE id = ?",
                (
                    status,
                    json.dumps(metrics) if metrics is not None else None,
                    now_iso() if status != "running" else None,
                    message,
                    run_id,
                ),
            )

    def set_run_owner(self, run_id: str, pid: int) -> None:
        """Record which process is doing the run (the worker, not the window)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET pid = ?, host = ? WHERE id = ?",
                (int(pid), socket.gethostname(), run_id),
            )

    @staticmethod
    def _run_from_row(row: sqlite3.Row) -> Run:
        return Run(
            id=row["id"],
            status=row["status"],
            model=row["model"],
            config=json.loads(row["config"] or "{}"),
            metrics=json.loads(row["metrics"] or "{}"),
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            message=row["message"],
        )

    def runs(self) -> list[Run]:
        rows = self._query("SELECT * FROM runs ORDER BY started_at, id")
        return [self._run_from_row(r) for r in rows]

    def get_run(self, run_id: str) -> Run:
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise ProjectError(f"no run {run_id!r} (see 'medview runs')")
        return self._run_from_row(rows[0])

    def delete_run(self, run_id: str) -> None:
        """Forget a run and delete its folder under runs/ (and nothing outside it)."""
        self.get_run(run_id)
        with self._transaction() as db:
            db.execute("DELETE FROM predictions WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        run_dir = (self.runs_dir / run_id).resolve()
        if run_dir.parent == self.runs_dir.resolve() and run_dir.is_dir():
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)

    def _mark_dead_runs_interrupted(self) -> None:
        """A run left 'running' by a process that no longer exists was interrupted."""
        host = socket.gethostname()
        rows = self._query("SELECT id, pid, host FROM runs WHERE status = 'running'")
        for row in rows:
            if row["host"] == host and row["pid"] and _process_alive(int(row["pid"])):
                continue
            if row["host"] not in (None, host):
                continue  # a run on another machine (shared project folder): cannot tell
            self.finish_run(row["id"], "interrupted", message="the process running it stopped")

    # ------------------------------------------------------------------ predictions
    def add_predictions(
        self,
        run_id: str,
        rows: Iterable[tuple[int, int, str | None, Sequence[float], str | None]],
    ) -> None:
        """Store (item id, fold, split, probabilities, predicted class) rows for a run.
        Fold 0 means the fold ensemble (the run's final prediction)."""
        stamp = now_iso()
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO predictions"
                "(run_id, item_id, fold, split, probabilities, predicted, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(run_id, item_id, fold) DO UPDATE SET "
                "split = excluded.split, probabilities = excluded.probabilities, "
                "predicted = excluded.predicted, at = excluded.at",
                [
                    (run_id, int(i), int(f), s, json.dumps([float(p) for p in probs]), pred, stamp)
                    for i, f, s, probs, pred in rows
                ],
            )

    def predictions(self, run_id: str) -> list[Prediction]:
        rows = self._query(
            "SELECT * FROM predictions WHERE run_id = ? ORDER BY item_id, fold", (run_id,)
        )
        return [
            Prediction(
                r["run_id"],
                r["item_id"],
                r["fold"],
                r["split"],
                json.loads(r["probabilities"]),
                r["predicted"],
                r["at"],
            )
            for r in rows
        ]

    def latest_predictions(self) -> dict[int, Prediction]:
        """Per item, the most recent prediction of any run (ensemble rows preferred)."""
        rows = self._query(
            "SELECT * FROM predictions ORDER BY at, fold = 0, run_id"
        )  # later rows win
        latest: dict[int, Prediction] = {}
        for r in rows:
            latest[r["item_id"]] = Prediction(
                r["run_id"],
                r["item_id"],
                r["fold"],
                r["split"],
                json.loads(r["probabilities"]),
                r["predicted"],
                r["at"],
            )
        return latest


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
