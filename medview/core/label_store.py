"""The label set and the labels of a project (mixed into ``Project``).

Every change is one committed transaction, and every label change is also appended to the
``labels`` history table (who, when), which undo and audits read.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from medview.core.errors import ProjectError
from medview.core.labels import LabelClass, color_for, validate_class_name, validate_class_names
from medview.core.store import Store, default_user, now_iso


class LabelConflict(ProjectError):
    """An undo or redo would overwrite a label someone else changed in the meantime.

    ``changed`` maps each such item id to the label it has now."""

    def __init__(self, message: str, changed: dict[int, str | None]) -> None:
        super().__init__(message)
        self.changed = changed


class LabelStore(Store):
    # (st_dev, st_ino) of project.db when first written: a folder deleted or replaced while
    # open is noticed before a label is acknowledged (on Linux the open file still takes
    # writes after an ``rm -r``, and they vanish with it).
    _db_identity: tuple[int, int] | None = None

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

    # ------------------------------------------------------------------ labels
    def set_label(self, item_id: int, label: str | None, who: str | None = None) -> str | None:
        """Set (or clear, with None) one item's class; committed before returning.
        Returns the previous label, which undo needs."""
        return self.set_labels({item_id: label}, who=who)[int(item_id)]

    def set_labels(
        self,
        labels: dict[int, str | None],
        who: str | None = None,
        *,
        expected: dict[int, str | None] | None = None,
        wait: float | None = None,
    ) -> dict[int, str | None]:
        """Set several labels in one transaction. Returns the previous label of each item.

        ``expected``: the label each item must have now (undo and redo pass what they left
        behind); if another writer changed one since, nothing is written and
        :class:`LabelConflict` names the items. ``wait``: the longest time, in seconds, to
        wait for another writer's lock (the window passes a fraction of a second so that its
        thread never freezes; the default is the connection's 30 s).
        """
        self._check_writable()
        who = who or default_user()
        # The short wait covers the class lookups too: they need the store's lock as well.
        with self._waiting_at_most(wait):
            class_ids = {name: self._class_id(name) for name in set(labels.values()) if name}
            return self._write_labels(labels, class_ids, who, expected)

    def _write_labels(
        self,
        labels: dict[int, str | None],
        class_ids: dict[str, int],
        who: str,
        expected: dict[int, str | None] | None,
    ) -> dict[int, str | None]:
        stamp = now_iso()
        previous: dict[int, str | None] = {}
        with self._transaction() as db:
            for item_id in labels:
                row = db.execute(
                    "SELECT classes.name FROM items LEFT JOIN classes "
                    "ON classes.id = items.class_id WHERE items.id = ?",
                    (int(item_id),),
                ).fetchone()
                if row is None:
                    raise ProjectError(f"no item with id {item_id}")
                previous[int(item_id)] = row[0]
            if expected is not None:
                changed = {
                    i: previous[int(i)]
                    for i, label in expected.items()
                    if int(i) in previous and previous[int(i)] != label
                }
                if changed:
                    raise LabelConflict(self._conflict_text(db, changed), changed)
            for item_id, name in labels.items():
                class_id = class_ids[name] if name else None
                db.execute(
                    "UPDATE items SET class_id = ?, labelled_at = ? WHERE id = ?",
                    (class_id, stamp, int(item_id)),
                )
                db.execute(
                    "INSERT INTO labels(item_id, class_id, who, at) VALUES (?, ?, ?, ?)",
                    (int(item_id), class_id, who, stamp),
                )
            self.check_on_disk()  # inside the transaction: a failure rolls it back
        return previous

    # ------------------------------------------------------------------ write guards
    def _check_writable(self) -> None:
        if self.read_only:
            why = f" ({self.read_only_reason})" if self.read_only_reason else ""
            raise ProjectError(f"{self.folder} is open read-only{why}: labels cannot be changed")

    def check_on_disk(self) -> None:
        """Raise if the project's database file is gone or was replaced since it was opened."""
        db_file = self.folder / "project.db"
        try:
            info = os.stat(db_file)
        except OSError as exc:
            raise ProjectError(
                f"{self.folder}: the project folder was deleted or moved while open "
                f"({exc.strerror or exc}); nothing can be saved there"
            ) from exc
        identity = (info.st_dev, info.st_ino)
        if self._db_identity is None:
            self._db_identity = identity
        elif identity != self._db_identity:
            raise ProjectError(
                f"{db_file} was replaced by another file while open; nothing was saved"
            )

    @contextmanager
    def _waiting_at_most(self, seconds: float | None) -> Iterator[None]:
        """Hold the connection with a short lock wait (``PRAGMA busy_timeout``) for one write.

        The store's lock is taken with the same limit: a worker thread of this process in the
        middle of a long write must not freeze the caller either."""
        if seconds is None:
            yield
            return
        if not self._lock.acquire(timeout=seconds):
            raise ProjectError(
                f"{self.folder}: cannot write the project (busy with another write of this program)"
            )
        try:
            db = self._db
            if db is None:
                raise ProjectError(f"{self.folder}: the project is closed")
            before = int(db.execute("PRAGMA busy_timeout").fetchone()[0])
            db.execute(f"PRAGMA busy_timeout = {max(0, int(seconds * 1000))}")
            try:
                yield
            finally:
                with suppress(sqlite3.Error):
                    db.execute(f"PRAGMA busy_timeout = {before}")
        finally:
            self._lock.release()

    @staticmethod
    def _conflict_text(db: sqlite3.Connection, changed: dict[int, str | None]) -> str:
        parts = []
        for item_id, now in list(changed.items())[:3]:
            row = db.execute(
                "SELECT items.name, labels.who, labels.at FROM items "
                "LEFT JOIN labels ON labels.id = "
                "(SELECT MAX(id) FROM labels WHERE labels.item_id = items.id) "
                "WHERE items.id = ?",
                (int(item_id),),
            ).fetchone()
            name, who, at = row if row else (f"item {item_id}", None, None)
            by = f" by {who}" if who else ""
            when = f" at {str(at)[11:19]}" if at else ""
            parts.append(f"{name} is now {now or 'unlabelled'} (changed{by}{when})")
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        return "changed elsewhere since: " + "; ".join(parts) + more

    def data_version(self) -> int | None:
        """SQLite's ``data_version``: it changes when another connection (another process:
        the command line, a training run) commits. None when the store is busy right now
        (the caller polls again later rather than waiting)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self._db is None:
                return None
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])
        finally:
            self._lock.release()

    # ------------------------------------------------------------------ change tracking
    def item_change_tokens(self) -> dict[int, tuple[object, ...]]:
        """Per item, its raw stored columns (no JSON parsed): comparing two of these tells a
        watcher which items another process changed, for a few ms on 5,000 items."""
        rows = self._query(
            "SELECT id, class_id, labelled_at, split, group_id, name, paths, rel_paths, shape, "
            "spacing, meta FROM items"
        )
        return {int(r[0]): tuple(r[1:]) for r in rows}

    def item_census(self) -> tuple[int, int]:
        """(number of items, largest item id): changes when items are added or removed."""
        row = self._query("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM items")[0]
        return int(row[0]), int(row[1])

    def label_changes_since(self, last_row: int | None) -> tuple[int, list[int]]:
        """Items whose label changed after label-history row ``last_row`` (None: just the
        current last row). Returns (the last row now, the item ids)."""
        if last_row is None:
            row = self._query("SELECT COALESCE(MAX(id), 0) FROM labels")[0]
            return int(row[0]), []
        rows = self._query(
            "SELECT id, item_id FROM labels WHERE id > ? ORDER BY id", (int(last_row),)
        )
        if not rows:
            return int(last_row), []
        return int(rows[-1][0]), sorted({int(r[1]) for r in rows})

    def prediction_count(self) -> int:
        """How many prediction rows there are (a run writing predictions changes it)."""
        return int(self._query("SELECT COUNT(*) FROM predictions")[0][0])

    def resolve_item_ref(self, ref: str, by_id: bool = False) -> int:
        """The item a user means by ``ref`` on the command line.

        A name that looks like a number (``00042``) is a name: ids are meant only with
        ``by_id``, or when ``ref`` is a plain number no item is named. Several items with the
        name are an error that lists them."""
        text = str(ref).strip()
        if by_id:
            if not text.isdigit():
                raise ProjectError(f"--id needs a number, not {text!r}")
            rows = self._query("SELECT id FROM items WHERE id = ?", (int(text),))
            if not rows:
                raise ProjectError(f"no item with id {int(text)} (see 'medview items')")
            return int(rows[0][0])
        rows = self._query("SELECT id, paths FROM items WHERE name = ? ORDER BY id", (text,))
        if len(rows) == 1:
            return int(rows[0][0])
        if len(rows) > 1:
            listed = "; ".join(f"id {r[0]} ({_first_path(r[1])})" for r in rows[:10])
            more = f"; and {len(rows) - 10} more" if len(rows) > 10 else ""
            raise ProjectError(
                f"{len(rows)} items are named {text!r}: {listed}{more}. Give one with --id ID"
            )
        if text.isdigit() and str(int(text)) == text:
            found = self._query("SELECT id FROM items WHERE id = ?", (int(text),))
            if found:
                return int(found[0][0])
        hint = (
            " (to mean an item id, use --id)" if text.isdigit() and text != str(int(text)) else ""
        )
        raise ProjectError(f"no item {text!r}{hint}; see 'medview items' for names and ids")

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


def _first_path(paths_json: str | None) -> str:
    import json

    try:
        paths = json.loads(paths_json or "[]")
    except ValueError:
        return "?"
    return str(paths[0]) if paths else "?"
