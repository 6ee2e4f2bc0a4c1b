"""The project: a folder ``NAME.medview/`` with ``project.db`` (SQLite), ``runs/`` and ``cache/``.

Why it is built this way:

* Every write is its own committed transaction (WAL + ``synchronous=FULL``), so a label is on
  disk before ``set_label`` returns and a killed process loses nothing that was acknowledged.
* Images are referenced, not copied: absolute path, path relative to the project, size and a
  content hash, so a moved data folder can be re-linked by hash.
* The label set and labels (``label_store``) and runs and predictions (``run_store``) live in
  their own modules, mixed into ``Project``; ``store`` holds the connection and transactions.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medview.core import readonly, schema, schema_check
from medview.core.containment import check_no_links
from medview.core.disk_cache import cache_folder
from medview.core.errors import ProjectError
from medview.core.label_store import LabelStore
from medview.core.labels import color_for, validate_class_names
from medview.core.phash_store import PhashStore
from medview.core.rows import DamagedRow, column, json_list, json_value
from medview.core.run_store import RUN_STATUSES, Prediction, Run, RunStore
from medview.core.store import now_iso
from medview.core.study_store import Study, StudyStore

PROJECT_SUFFIX = ".medview"
DB_NAME = "project.db"
SPLITS = ("train", "val", "test")
_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _text(value: str | None) -> str | None:
    """Text SQLite can store. A file name that is not valid UTF-8 reaches Python with lone
    surrogates, which sqlite3 refuses (the good image would be skipped with an encoding
    error); the item's name shows U+FFFD instead. Its paths keep the exact bytes (they are
    stored as JSON, which escapes surrogates)."""
    if value is None:
        return None
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


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
        """The ``items --json`` object (docs/DESIGN.md section 3)."""
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


class Project(LabelStore, RunStore, StudyStore, PhashStore):
    """An open project. Use :meth:`create` or :meth:`open`; close it (or use ``with``)."""

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
    def open(cls, path: str | os.PathLike[str], read_only: bool | None = None) -> Project:
        """Open a project. ``read_only`` None: read-only when this process cannot write it
        (a colleague's share); then ``project.read_only`` is True and writes are refused."""
        folder = cls.normalise_path(path)
        if not (folder / DB_NAME).is_file():
            raise ProjectError(f"{folder}: not a medview project (no {DB_NAME})")
        reason = readonly.write_problem(folder, folder / DB_NAME)
        if read_only or (read_only is None and reason):
            return cls._connect_read_only(folder, reason or "opened read-only")
        try:
            project = cls._connect(folder)
        except ProjectError as exc:
            cause = exc.__cause__
            refused = isinstance(cause, sqlite3.Error) and readonly.is_read_only_error(cause)
            if read_only is None and refused:
                return cls._connect_read_only(folder, "the project's folder refuses writes")
            raise
        project._mark_dead_runs_interrupted()
        return project

    @classmethod
    def _connect_read_only(cls, folder: Path, reason: str) -> Project:
        """See medview/core/readonly.py: no configure, no migration, no writes."""
        db_path = folder / DB_NAME
        connection, mode = readonly.connect(db_path)
        try:
            readonly.check_schema_version(connection, db_path, schema.SCHEMA_VERSION)
            schema_check.verify(connection, db_path)  # read-only too: no view or trigger runs
        except BaseException:
            connection.close()
            raise
        project = cls(folder, connection, "read-only")
        project.read_only = True
        project.read_only_reason = reason
        project.read_only_mode = mode
        return project

    @classmethod
    def _connect(cls, folder: Path) -> Project:
        db_path = folder / DB_NAME
        try:
            connection = sqlite3.connect(
                db_path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            journal_mode = schema.configure(connection)
            # Before anything reads a table (a migration included): a view, trigger or
            # unknown object in someone else's project.db is refused, not run.
            schema_check.verify(connection, db_path)
            if schema.migrate(connection):
                schema_check.verify(connection, db_path)
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise ProjectError(f"{db_path}: cannot open the project database ({exc})") from exc
        except BaseException:
            connection.close()
            raise
        return cls(folder, connection, journal_mode)

    @property
    def db_path(self) -> Path:
        return self.folder / DB_NAME

    @property
    def cache_dir(self) -> Path:
        return self.folder / "cache"

    def cache_file(self, subdir: str, key: str, suffix: str) -> Path:
        """A file under ``cache/SUBDIR/`` named by a key such as a content hash.

        The key comes from the database, which may be someone else's project file: anything
        but a plain token is refused so a crafted value cannot point outside the project, and
        the folders are made without following a link (``UnsafePathError`` names it).
        """
        for part in (subdir, key, suffix.lstrip(".")):
            if not _SAFE_TOKEN.fullmatch(part):
                raise ProjectError(f"unsafe cache key {part!r} in {self.db_path}")
        path = cache_folder(self.folder, subdir) / f"{key}{suffix}"
        check_no_links(self.folder, path)
        return path

    def pseudonymise(self, patient_id: str) -> str:
        """A group key for a patient id: a salted hash, unless the user opted in to keep ids
        (``keep_patient_ids`` = ``"1"`` in the project meta). The salt is per project, so the
        same patient gets the same key inside a project and an unlinkable one across projects.
        """
        if self.get_meta("keep_patient_ids") == "1":
            return patient_id
        salt = self.get_meta("salt") or ""
        digest = hashlib.sha256(f"{salt}:{patient_id}".encode()).hexdigest()
        return f"pt-{digest[:12]}"

    @property
    def name(self) -> str:
        return self.get_meta("name") or self.folder.stem

    # ------------------------------------------------------------------ items
    _ITEM_SELECT = (
        "SELECT items.*, classes.name AS label FROM items "
        "LEFT JOIN classes ON classes.id = items.class_id"
    )

    @staticmethod
    def _item_from_row(row: sqlite3.Row) -> Item:
        """The Item of a row; DamagedRow naming the column when a value is not what medview
        writes (bad JSON, wrong types: a hand-edited or damaged database)."""
        return Item(
            id=int(row["id"]),
            name=column(row, "name", str),
            kind=column(row, "kind", str, choices=("2d", "3d")),
            reader=column(row, "reader", str),
            paths=json_list(row, "paths", str),
            rel_paths=json_list(row, "rel_paths", str, default="[]"),
            shape=tuple(json_list(row, "shape", int, sizes=range(1, 6), positive=True)),
            spacing=tuple(json_list(row, "spacing", float, sizes=(3,))),
            size_bytes=row["size_bytes"] if isinstance(row["size_bytes"], int) else 0,
            content_hash=column(row, "content_hash", str),
            group=column(row, "group_id", str, optional=True),
            split=row["split"],
            label=row["label"],
            labelled_at=row["labelled_at"],
            added_at=str(row["added_at"] or ""),
            meta=json_value(row, "meta", dict, default="{}"),
        )

    def _items_of(self, rows: Iterable[sqlite3.Row]) -> list[Item]:
        """Items of rows; a damaged row is skipped and remembered (damaged_rows())."""
        items = []
        for row in rows:
            try:
                items.append(self._item_from_row(row))
            except DamagedRow as exc:
                self._note_damaged_item(row, exc)
        return items

    def _note_damaged_item(self, row: sqlite3.Row, exc: DamagedRow) -> None:
        name = row["name"] if isinstance(row["name"], str) else "?"
        self.note_damaged(
            f"items {row['id']}",
            f"item {row['id']} ({name!r}) skipped: {exc} in {self.db_path}",
        )

    def _one_item(self, row: sqlite3.Row) -> Item:
        try:
            return self._item_from_row(row)
        except DamagedRow as exc:
            self._note_damaged_item(row, exc)
            raise ProjectError(f"item {row['id']} is damaged in {self.db_path} ({exc})") from exc

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
        return self.add_items(
            [
                {
                    "name": name,
                    "kind": kind,
                    "reader": reader,
                    "paths": paths,
                    "shape": shape,
                    "spacing": spacing,
                    "content_hash": content_hash,
                    "size_bytes": size_bytes,
                    "group": group,
                    "split": split,
                    "label": label,
                    "meta": meta,
                }
            ]
        )[0]

    def add_items(self, entries: Sequence[dict[str, Any]]) -> list[int]:
        """Add several items in one transaction; each entry holds :meth:`add_item`'s keyword
        arguments. Returns the new ids. (Added for imports: one commit per item costs an
        fsync each, about 5 ms, which made a 3000-row npz import take 15 s.)"""
        rows = []
        class_ids: dict[str, int] = {}
        for entry in entries:
            kind = entry["kind"]
            if kind not in ("2d", "3d"):
                raise ProjectError(f"item kind must be '2d' or '3d', not {kind!r}")
            self._check_split(entry.get("split"))
            label = entry.get("label")
            if label is not None and label not in class_ids:
                class_ids[label] = self._class_id(label)
            rows.append((entry, class_ids[label] if label is not None else None))
        stamp = now_iso()
        ids: list[int] = []
        with self._transaction() as db:
            for entry, class_id in rows:
                absolute = [os.path.abspath(p) for p in entry["paths"]]
                cursor = db.execute(
                    "INSERT INTO items(name, kind, reader, paths, rel_paths, shape, spacing, "
                    "size_bytes, content_hash, group_id, split, class_id, labelled_at, added_at, "
                    "meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        _text(entry["name"]),
                        entry["kind"],
                        entry["reader"],
                        json.dumps(absolute),
                        json.dumps([self.relative_path(p) for p in absolute]),
                        json.dumps([int(s) for s in entry["shape"]]),
                        json.dumps([float(s) for s in entry["spacing"]]),
                        int(entry.get("size_bytes") or 0),
                        entry["content_hash"],
                        _text(entry.get("group")),
                        entry.get("split"),
                        class_id,
                        stamp if class_id is not None else None,
                        stamp,
                        json.dumps(entry.get("meta") or {}),
                    ),
                )
                assert cursor.lastrowid is not None  # set by every INSERT
                item_id = int(cursor.lastrowid)
                ids.append(item_id)
                if class_id is not None:
                    db.execute(
                        "INSERT INTO labels(item_id, class_id, who, at) VALUES (?, ?, ?, ?)",
                        (item_id, class_id, "import", stamp),
                    )
        return ids

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
        return self._items_of(rows)

    def item_count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM items")[0][0])

    def get_item(self, item_id: int) -> Item:
        rows = self._query(f"{self._ITEM_SELECT} WHERE items.id = ?", (int(item_id),))
        if not rows:
            raise ProjectError(f"no item with id {item_id}")
        return self._one_item(rows[0])

    def find_item(self, ref: str | int) -> Item:
        """An item by id, or by its exact name when that name is unique."""
        text = str(ref)
        if text.isdigit():
            rows = self._query(f"{self._ITEM_SELECT} WHERE items.id = ?", (int(text),))
            if rows:
                return self._one_item(rows[0])
        rows = self._query(f"{self._ITEM_SELECT} WHERE items.name = ?", (text,))
        if len(rows) == 1:
            return self._one_item(rows[0])
        if len(rows) > 1:
            raise ProjectError(f"{len(rows)} items are named {text!r}: use the item id")
        raise ProjectError(f"no item {text!r} (give an item id or name; see 'medview items')")

    def items_by_hash(self, content_hash: str) -> list[Item]:
        rows = self._query(f"{self._ITEM_SELECT} WHERE items.content_hash = ?", (content_hash,))
        return self._items_of(rows)

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
        group = _text(group.strip()) if group and group.strip() else None
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


__all__ = ["Item", "Prediction", "Project", "Run", "RUN_STATUSES", "SPLITS", "Study"]
