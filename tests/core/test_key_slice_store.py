"""Key slices (schema version 4): a version-3 project is upgraded on open, a key slice
round-trips through the store, one per volume, checked against the volume's shape."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from medview.core import schema
from medview.core.errors import ProjectError
from medview.core.key_slice_store import KeySlice
from medview.core.project import Project


def _add(p: Project, name: str, kind: str, shape: tuple[int, ...]) -> int:
    return p.add_item(
        name=name,
        kind=kind,
        reader="nifti" if kind == "3d" else "raster",
        paths=[f"/data/{name}"],
        shape=shape,
        spacing=(1.0, 1.0, 1.0),
        content_hash=name,
    )


def test_a_version_3_project_gains_the_key_slice_table(tmp_path: Path) -> None:
    folder = tmp_path / "old.medview"
    (folder / "runs").mkdir(parents=True)
    db = sqlite3.connect(folder / "project.db")
    for migration in schema.MIGRATIONS[:3]:
        db.executescript(migration)
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    with Project.open(folder) as p:
        assert p._db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION >= 4
        assert p.key_slices() == {}
        assert p.integrity_check() == "ok"


def test_a_key_slice_round_trips_and_is_one_per_volume(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as p:
        vol = _add(p, "v.nii.gz", "3d", (10, 20, 24))
        other = _add(p, "w.nii.gz", "3d", (10, 20, 24))
        assert p.set_key_slice(vol, 0, 7) == KeySlice(0, 7)
        p.set_key_slice(vol, 2, 3)  # marking again moves it
        p.set_key_slice(other, 0, 0)
    with Project.open(tmp_path / "p") as p:  # committed: a fresh connection sees it
        assert p.key_slices() == {vol: KeySlice(2, 3), other: KeySlice(0, 0)}
        p.clear_key_slice(other)
        assert p.key_slice(other) is None and p.key_slice(vol) == KeySlice(2, 3)
        p.remove_items([vol])
        assert p.key_slices() == {}  # deleting the volume deletes its key slice


def test_a_key_slice_outside_the_volume_or_on_an_image_is_refused(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as p:
        vol = _add(p, "v.nii.gz", "3d", (10, 20, 24))
        image = _add(p, "i.png", "2d", (1, 20, 24))
        with pytest.raises(ProjectError, match="v.nii.gz: no slice 10 along axis 0"):
            p.set_key_slice(vol, 0, 10)
        with pytest.raises(ProjectError, match="axis 3"):
            p.set_key_slice(vol, 3, 0)
        with pytest.raises(ProjectError, match="i.png: a key slice needs a volume"):
            p.set_key_slice(image, 0, 0)
        p.set_key_slice(vol, 1, 19)  # the last coronal slice is fine


def test_a_read_only_project_refuses_key_slices_and_says_why(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p.medview", ["a", "b"]) as p:
        volume = _add(p, "v", "3d", (4, 8, 8))
        p.set_key_slice(volume, 0, 2)
        folder = p.folder
    with Project.open(folder, read_only=True) as p:
        assert p.read_only and p.key_slice(volume) == KeySlice(0, 2)  # still shown
        with pytest.raises(ProjectError, match="read-only"):
            p.set_key_slice(volume, 0, 3)
        with pytest.raises(ProjectError, match="read-only"):
            p.clear_key_slice(volume)
        assert p.key_slice(volume) == KeySlice(0, 2)
