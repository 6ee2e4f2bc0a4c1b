"""An item of a project (a 2D image, a volume or a DICOM series) and how a database row becomes one.

Why a module of its own: the item is what the importer writes, the browser lists and the engine
trains on; the store (``item_store``) and the readers only share this shape.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from medview.core.rows import column, json_list, json_value

SPLITS = ("train", "val", "test")


def store_text(value: str | None) -> str | None:
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
    # An item that is one part of a file (schema version 5): the file's own hash, the scene
    # and the time point read from it. None for an item that is the whole file.
    file_hash: str | None = None
    scene: int | None = None
    time_index: int | None = None

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


def item_from_row(row: sqlite3.Row) -> Item:
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
        file_hash=column(row, "file_hash", str, optional=True) if _has(row, "file_hash") else None,
        scene=_index(row, "scene"),
        time_index=_index(row, "time_index"),
    )


def _index(row: sqlite3.Row, name: str) -> int | None:
    """A part index column: NULL, or a whole number >= 0 by the schema's CHECK (absent from
    a read-only project of schema version 4 or older, opened without migrating)."""
    value = row[name] if _has(row, name) else None
    return int(value) if isinstance(value, int) and value >= 0 else None


def _has(row: sqlite3.Row, name: str) -> bool:
    return name in tuple(row.keys())  # tuple: ``name in row`` would look at the values
