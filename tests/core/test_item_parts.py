"""Schema 5: an item may be one part of a file (a microscope scene, a time point), identified
by the file's hash plus the scene and time indexes; older projects migrate."""

from __future__ import annotations

from pathlib import Path

import pytest

from medview.core import schema
from medview.core.project import Project


def test_scene_and_time_point_are_stored_with_the_item(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p", classes=["A", "B"]) as project:
        project.add_items(
            [
                {
                    "name": "plate — scene 2",
                    "kind": "3d",
                    "reader": "czi",
                    "paths": ["/data/plate.czi"],
                    "shape": (3, 16, 20, 2),
                    "spacing": (0.002, 0.0005, 0.0005),
                    "content_hash": "part",
                    "file_hash": "file",
                    "scene": 1,
                    "time_index": 0,
                },
                {
                    "name": "whole",
                    "kind": "2d",
                    "reader": "raster",
                    "paths": ["/data/a.png"],
                    "shape": (1, 4, 4),
                    "spacing": (1, 1, 1),
                    "content_hash": "whole",
                },
            ]
        )
    with Project.open(tmp_path / "p") as project:
        items = {i.name: i for i in project.items()}
    part, whole = items["plate — scene 2"], items["whole"]
    assert (part.file_hash, part.scene, part.time_index) == ("file", 1, 0)
    assert (whole.file_hash, whole.scene, whole.time_index) == (None, None, None)


def test_a_project_of_schema_4_migrates_and_keeps_its_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = list(schema.MIGRATIONS)
    monkeypatch.setattr(schema, "MIGRATIONS", current[:4])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 4)
    with Project.create(tmp_path / "old", classes=["A", "B"]) as project:
        project.add_item(
            name="a",
            kind="2d",
            reader="raster",
            paths=["/data/a.png"],
            shape=(1, 4, 4),
            spacing=(1, 1, 1),
            content_hash="h",
        )
    monkeypatch.undo()
    with Project.open(tmp_path / "old") as project:
        assert project._query("PRAGMA user_version")[0][0] == len(current) == 5
        (item,) = project.items()
        assert item.name == "a" and item.scene is None
