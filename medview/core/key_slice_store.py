"""Key slices (mixed into ``Project``): the one slice of a volume the user marked "use this
slice for training" in the slice view, which ``medview train --slices key`` trains on.

A key slice is an index along one array axis (0 axial, 1 coronal, 2 sagittal, as the slice
view names them), so the user marks the plane they look at. One per volume: marking another
replaces it. Stored in ``item_key_slice`` (schema version 4), committed at once like a label.
"""

from __future__ import annotations

from dataclasses import dataclass

from medview.core.errors import ProjectError
from medview.core.store import Store, default_user, now_iso


@dataclass(frozen=True)
class KeySlice:
    """``index`` along array ``axis`` (0, 1, 2) of a volume's (z, y, x) array."""

    axis: int
    index: int


class KeySliceStore(Store):
    def set_key_slice(self, item_id: int, axis: int, index: int) -> KeySlice:
        """Mark (or move) the key slice of a volume; refuses a 2D item or an index outside
        the volume, naming it."""
        self._refuse_read_only()
        rows = self._query("SELECT name, kind, shape FROM items WHERE id = ?", (int(item_id),))
        if not rows:
            raise ProjectError(f"{self.folder}: no item {item_id}")
        name, kind, shape = rows[0]["name"], rows[0]["kind"], _shape(rows[0]["shape"])
        if kind != "3d":
            raise ProjectError(f"{name}: a key slice needs a volume (this is a 2D image)")
        if axis not in (0, 1, 2) or not 0 <= index < shape[axis]:
            raise ProjectError(f"{name}: no slice {index} along axis {axis} (shape {shape})")
        with self._transaction() as db:
            db.execute(
                "INSERT INTO item_key_slice(item_id, axis, slice, who, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(item_id) DO UPDATE SET axis = excluded.axis, "
                "slice = excluded.slice, who = excluded.who, at = excluded.at",
                (int(item_id), int(axis), int(index), default_user(), now_iso()),
            )
        return KeySlice(int(axis), int(index))

    def clear_key_slice(self, item_id: int) -> None:
        self._refuse_read_only()
        with self._transaction() as db:
            db.execute("DELETE FROM item_key_slice WHERE item_id = ?", (int(item_id),))

    def key_slices(self) -> dict[int, KeySlice]:
        """Item id -> its key slice, for every volume that has one."""
        rows = self._query("SELECT item_id, axis, slice FROM item_key_slice")
        return {int(r["item_id"]): KeySlice(int(r["axis"]), int(r["slice"])) for r in rows}

    def key_slice(self, item_id: int) -> KeySlice | None:
        return self.key_slices().get(int(item_id))

    def _refuse_read_only(self) -> None:
        if self.read_only:
            why = self.read_only_reason or "opened so"
            raise ProjectError(f"{self.folder}: the project is read-only ({why})")


def _shape(text: str) -> tuple[int, ...]:
    import json

    try:
        values = json.loads(text)
        return tuple(int(v) for v in values)[:3]
    except (TypeError, ValueError):
        return (0, 0, 0)
