"""Perceptual hashes of items (mixed into ``Project``); see medview.io.phash."""

from __future__ import annotations

from collections.abc import Iterable

from medview.core.store import Store


class PhashStore(Store):
    def set_phashes(self, values: Iterable[tuple[int, str]]) -> None:
        rows = [(int(item_id), str(text)) for item_id, text in values]
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO item_phash(item_id, phash) SELECT ?, ? "
                "WHERE EXISTS (SELECT 1 FROM items WHERE id = ?1) "
                "ON CONFLICT(item_id) DO UPDATE SET phash = excluded.phash",
                rows,
            )

    def phashes(self) -> dict[int, str]:
        """Item id -> hash (hex), for every item that has one."""
        rows = self._query("SELECT item_id, phash FROM item_phash")
        return {int(r["item_id"]): str(r["phash"]) for r in rows}
