"""The label set and the labels of a project (mixed into ``Project``).

Every change is one committed transaction, and every label change is also appended to the
``labels`` history table (who, when), which undo and audits read.
"""

from __future__ import annotations

from medview.core.errors import ProjectError
from medview.core.labels import LabelClass, color_for, validate_class_name, validate_class_names
from medview.core.store import Store, default_user, now_iso


class LabelStore(Store):
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
