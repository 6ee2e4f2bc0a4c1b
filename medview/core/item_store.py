"""The items of a project in the database: adding, listing, finding, re-linking (mixed into
``Project``).

Why items are added in batches: one commit per item costs an fsync each (about 5 ms), which
made a 3000-row npz import take 15 s; ``add_items`` writes a whole import in one transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from medview.core.errors import ProjectError
from medview.core.item import SPLITS, Item, item_from_row, store_text
from medview.core.label_store import LabelStore
from medview.core.rows import DamagedRow
from medview.core.store import now_iso

_ITEM_SELECT = (
    "SELECT items.*, classes.name AS label FROM items "
    "LEFT JOIN classes ON classes.id = items.class_id"
)
_INSERT_ITEM = (
    "INSERT INTO items(name, kind, reader, paths, rel_paths, shape, spacing, "
    "size_bytes, content_hash, group_id, split, class_id, labelled_at, added_at, "
    "meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _already_added(db: sqlite3.Connection, entry: dict[str, Any], class_id: int | None) -> bool:
    """An item with the entry's paths and content exists, and its class is the entry's (or
    one of them has none). Another class is a label conflict: kept, as the importer wants."""
    paths = json.dumps([os.path.abspath(p) for p in entry["paths"]])
    rows = db.execute(
        "SELECT class_id FROM items WHERE content_hash = ? AND paths = ?",
        (entry["content_hash"], paths),
    ).fetchall()
    return any(class_id is None or row[0] is None or row[0] == class_id for row in rows)


class ItemStore(LabelStore):
    """Items carry a label (a class id), so this store stands on the label store."""

    # ------------------------------------------------------------------ reading rows
    def _items_of(self, rows: Iterable[sqlite3.Row]) -> list[Item]:
        """Items of rows; a damaged row is skipped and remembered (damaged_rows())."""
        items = []
        for row in rows:
            try:
                items.append(item_from_row(row))
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
            return item_from_row(row)
        except DamagedRow as exc:
            self._note_damaged_item(row, exc)
            raise ProjectError(f"item {row['id']} is damaged in {self.db_path} ({exc})") from exc

    def relative_path(self, path: str | os.PathLike[str]) -> str:
        try:
            return os.path.relpath(os.path.abspath(path), self.folder)
        except ValueError:  # another drive on Windows
            return os.path.abspath(path)

    # ------------------------------------------------------------------ adding
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
        arguments. Returns the new ids."""
        rows = self._checked_entries(entries)
        stamp = now_iso()
        with self._transaction() as db:
            return [self._insert_item(db, entry, class_id, stamp) for entry, class_id in rows]

    def add_new_items(self, entries: Sequence[dict[str, Any]]) -> list[int | None]:
        """:meth:`add_items`, but an entry whose file is already an item (same paths and
        content, and not under another class) is not added again: None in its place.

        Checked inside the transaction that adds it: two imports of one folder at once each
        read the project's hashes before either had added anything, and gave every file
        twice (16 files, 32 items in 2 of 3 tries). BEGIN IMMEDIATE queues the writers, so
        the second one sees the first one's items here."""
        rows = self._checked_entries(entries)
        stamp = now_iso()
        with self._transaction() as db:
            return [
                None
                if _already_added(db, entry, class_id)
                else self._insert_item(db, entry, class_id, stamp)
                for entry, class_id in rows
            ]

    def _checked_entries(
        self, entries: Sequence[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], int | None]]:
        """Each entry with its label's class id, refusing a bad kind, split or label before
        anything is written."""
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
        return rows

    def _insert_item(
        self, db: sqlite3.Connection, entry: dict[str, Any], class_id: int | None, stamp: str
    ) -> int:
        """One items row (and its label history row); returns the new id."""
        absolute = [os.path.abspath(p) for p in entry["paths"]]
        cursor = db.execute(
            _INSERT_ITEM,
            (
                store_text(entry["name"]),
                entry["kind"],
                entry["reader"],
                json.dumps(absolute),
                json.dumps([self.relative_path(p) for p in absolute]),
                json.dumps([int(s) for s in entry["shape"]]),
                json.dumps([float(s) for s in entry["spacing"]]),
                int(entry.get("size_bytes") or 0),
                entry["content_hash"],
                store_text(entry.get("group")),
                entry.get("split"),
                class_id,
                stamp if class_id is not None else None,
                stamp,
                json.dumps(entry.get("meta") or {}),
            ),
        )
        assert cursor.lastrowid is not None  # set by every INSERT
        item_id = int(cursor.lastrowid)
        _write_part(db, entry, item_id)
        if class_id is not None:
            db.execute(
                "INSERT INTO labels(item_id, class_id, who, at) VALUES (?, ?, ?, ?)",
                (item_id, class_id, "import", stamp),
            )
        return item_id

    # ------------------------------------------------------------------ listing and finding
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
        rows = self._query(f"{_ITEM_SELECT}{where} ORDER BY items.id", params)
        return self._items_of(rows)

    def item_count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM items")[0][0])

    def get_item(self, item_id: int) -> Item:
        rows = self._query(f"{_ITEM_SELECT} WHERE items.id = ?", (int(item_id),))
        if not rows:
            raise ProjectError(f"no item with id {item_id}")
        return self._one_item(rows[0])

    def find_item(self, ref: str | int) -> Item:
        """An item by id, or by its exact name when that name is unique."""
        text = str(ref)
        if text.isdigit():
            rows = self._query(f"{_ITEM_SELECT} WHERE items.id = ?", (int(text),))
            if rows:
                return self._one_item(rows[0])
        rows = self._query(f"{_ITEM_SELECT} WHERE items.name = ?", (text,))
        if len(rows) == 1:
            return self._one_item(rows[0])
        if len(rows) > 1:
            raise ProjectError(f"{len(rows)} items are named {text!r}: use the item id")
        raise ProjectError(f"no item {text!r} (give an item id or name; see 'medview items')")

    def items_by_hash(self, content_hash: str) -> list[Item]:
        rows = self._query(f"{_ITEM_SELECT} WHERE items.content_hash = ?", (content_hash,))
        return self._items_of(rows)

    def known_hashes(self) -> set[str]:
        return {r[0] for r in self._query("SELECT content_hash FROM items")}

    # ------------------------------------------------------------------ changing
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
        group = store_text(group.strip()) if group and group.strip() else None
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


def _write_part(db: sqlite3.Connection, entry: dict[str, Any], item_id: int) -> None:
    """The file hash, scene and time point of an item that is one part of a file (schema 5).
    Only such items write these columns: a whole-file item is written as before, so a
    project of an older schema still takes it."""
    part = (entry.get("file_hash"), entry.get("scene"), entry.get("time_index"))
    if any(value is not None for value in part):
        db.execute(
            "UPDATE items SET file_hash = ?, scene = ?, time_index = ? WHERE id = ?",
            (*part, item_id),
        )
