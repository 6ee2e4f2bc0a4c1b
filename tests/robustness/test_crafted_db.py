"""A crafted project.db (issue 10): a recursive view in place of a table, a trigger that
rewrites labels, an item path of /dev/zero (or a FIFO), a read that hangs, one row of bad
JSON. Each is reproduced as the red team did it; medview must refuse clearly (naming the
object), offer a cleaned copy, read only regular files within a time limit, and skip and name
a damaged row while the rest of the project works."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rb_helpers import cli_env, run_cli

from medview.core.errors import ProjectError, ReadError
from medview.core.project import Project

_RECURSIVE_ITEMS = """
CREATE VIEW items AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r)
SELECT n AS id, 'x' AS name, '2d' AS kind, 'raster' AS reader, '[]' AS paths,
       '[]' AS rel_paths, '[1,1,1]' AS shape, '[1,1,1]' AS spacing, 0 AS size_bytes,
       'h' AS content_hash, NULL AS group_id, NULL AS split, NULL AS class_id,
       NULL AS labelled_at, 'x' AS added_at, '{}' AS meta FROM r
"""
_LABEL_TRIGGER = """
CREATE TRIGGER flip AFTER UPDATE OF class_id ON items BEGIN
  UPDATE items SET class_id = (SELECT id FROM classes WHERE name = 'MUT') WHERE id = NEW.id;
END
"""


def _project(tmp_path: Path, n: int = 3) -> Path:
    from io_helpers import write_png

    with Project.create(tmp_path / "p", ["WT", "MUT"]) as p:
        for k in range(n):
            path = write_png(tmp_path / "data" / f"{k}.png", (10, 10), seed=k)
            p.add_item(
                name=f"img{k}",
                kind="2d",
                reader="raster",
                paths=[path],
                shape=(1, 10, 10),
                spacing=(1, 1, 1),
                content_hash=f"h{k}",
            )
        return p.folder


def _edit(folder: Path, *statements: str) -> None:
    db = sqlite3.connect(folder / "project.db")
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


# ---------------------------------------------------------------------------- schema
def test_a_recursive_view_in_place_of_items_is_refused_at_once(tmp_path: Path) -> None:
    folder = _project(tmp_path)
    _edit(folder, "DROP TABLE items", _RECURSIVE_ITEMS)
    started = time.monotonic()
    try:
        done = run_cli("info", folder, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("medview info hung on a recursive view")
    assert time.monotonic() - started < 30
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert "view" in done.stderr and "'items'" in done.stderr
    assert "clean-copy" in done.stderr  # says how to get a usable copy


def test_a_trigger_that_rewrites_labels_is_refused_and_a_clean_copy_works(
    tmp_path: Path,
) -> None:
    folder = _project(tmp_path)
    _edit(folder, _LABEL_TRIGGER)
    with pytest.raises(ProjectError, match="trigger 'flip'"):
        Project.open(folder)
    # Through the CLI: one line, the label is not (silently) rewritten.
    done = run_cli("label", folder, "img1", "WT")
    assert done.returncode == 1 and "trigger 'flip'" in done.stderr, done.stderr
    clean = tmp_path / "clean.medview"
    made = run_cli("clean-copy", folder, clean)
    assert made.returncode == 0, made.stderr
    assert "flip" in made.stdout  # says what was left out
    assert run_cli("label", clean, "img1", "WT").returncode == 0
    with Project.open(clean) as p:
        assert {i.name: i.label for i in p.items()} == {"img0": None, "img1": "WT", "img2": None}
        names = {r[0] for r in p._query("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert names == set()
    assert (folder / "project.db").exists()  # the original is left as it was


def test_a_clean_copy_of_a_project_with_a_view_keeps_the_rest(tmp_path: Path) -> None:
    from medview.core.clean_copy import clean_copy

    folder = _project(tmp_path)
    with Project.open(folder) as p:
        p.set_label(1, "MUT")
        p.create_run("r1", {"model": "cnn_small"})
        p.finish_run("r1", "finished")
        (p.runs_dir / "r1" / "metrics.json").write_text("{}")
    _edit(folder, "CREATE VIEW evil AS SELECT * FROM items", _LABEL_TRIGGER)
    notes = clean_copy(folder, tmp_path / "copy")
    assert any("evil" in n for n in notes) and any("flip" in n for n in notes)
    with Project.open(tmp_path / "copy") as p:
        assert [i.label for i in p.items()] == ["MUT", None, None]
        assert [r.id for r in p.runs()] == ["r1"]
        assert (p.runs_dir / "r1" / "metrics.json").read_text() == "{}"
        assert p.integrity_check() == "ok"


@pytest.mark.parametrize(
    "statement, named",
    [
        ("CREATE TABLE extra (x)", "table 'extra'"),
        ("CREATE INDEX sneaky ON items (name)", "index 'sneaky'"),
        ("CREATE VIEW v AS SELECT 1", "view 'v'"),
    ],
)
def test_unknown_objects_are_named(tmp_path: Path, statement: str, named: str) -> None:
    folder = _project(tmp_path, n=1)
    _edit(folder, statement)
    with pytest.raises(ProjectError, match=named):
        Project.open(folder)


def test_a_table_with_other_columns_is_refused(tmp_path: Path) -> None:
    folder = _project(tmp_path, n=1)
    _edit(folder, "DROP TABLE runs", "CREATE TABLE runs (id TEXT PRIMARY KEY)")
    with pytest.raises(ProjectError, match="'runs'.*columns"):
        Project.open(folder)


def test_sqlites_own_objects_are_tolerated(tmp_path: Path) -> None:
    folder = _project(tmp_path)
    _edit(folder, "ANALYZE")  # sqlite_stat1; the schema's UNIQUE/PRIMARY KEYs: autoindexes
    with Project.open(folder) as p:
        assert len(p.items()) == 3


def test_a_table_added_to_the_schema_is_expected_automatically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The expected objects come from the schema's migrations: a new table (as the studies
    table of another branch) needs no change to the check."""
    from medview.core import schema

    folder = _project(tmp_path, n=1)  # written at the current version
    v3 = "CREATE TABLE future_things (id INTEGER PRIMARY KEY, name TEXT); "
    v3 += "CREATE INDEX f_n ON future_things (name)"
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, v3])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    with Project.open(folder) as p:  # migrated to the new version, then checked
        assert len(p.items()) == 1
    with Project.create(tmp_path / "new") as p:
        assert p._query("SELECT COUNT(*) FROM future_things")[0][0] == 0
    with Project.open(tmp_path / "new") as p:
        pass
    _edit(
        folder,
        "DROP TABLE future_things",
        "CREATE VIEW future_things AS SELECT 1 AS id, 'x' AS name",
    )
    with pytest.raises(ProjectError, match="view 'future_things'"):
        Project.open(folder)


# ---------------------------------------------------------------------------- item files
_LOAD_ONE = """
import sys
from medview.core.project import Project
from medview.io.readers import load_item
from medview.core.errors import ReadError
with Project.open(sys.argv[1]) as p:
    try:
        load_item(p, p.get_item(int(sys.argv[2])))
    except ReadError as exc:
        print("ReadError:", exc)
"""


def _load_in_child(folder: Path, item_id: int) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-c", _LOAD_ONE, str(folder), str(item_id)],
            capture_output=True,
            text=True,
            timeout=30,
            env=cli_env(),
        )
    except subprocess.TimeoutExpired:
        pytest.fail("loading the item hung")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_an_item_path_of_dev_zero_is_refused_not_read(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as p:
        for reader in ("dicom", "nifti", "raster"):
            p.add_item(
                name=f"zero-{reader}",
                kind="3d",
                reader=reader,
                paths=["/dev/zero"],
                shape=(4, 4, 4),
                spacing=(1, 1, 1),
                content_hash=f"z{reader}",
            )
        folder = p.folder
    for item_id in (1, 2, 3):
        done = _load_in_child(folder, item_id)
        assert "ReadError: /dev/zero: not a regular file" in done.stdout, done.stdout + done.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_an_item_path_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.nii"
    os.mkfifo(fifo)
    with Project.create(tmp_path / "p") as p:
        for reader in ("dicom", "nifti"):
            p.add_item(
                name=f"pipe-{reader}",
                kind="3d",
                reader=reader,
                paths=[fifo],
                shape=(4, 4, 4),
                spacing=(1, 1, 1),
                content_hash=f"fifo-{reader}",
            )
        folder = p.folder
    for item_id in (1, 2):
        done = _load_in_child(folder, item_id)
        assert "ReadError:" in done.stdout and "not a regular file" in done.stdout, done.stdout


def test_a_read_that_hangs_fails_with_a_clear_error_and_leaks_no_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read of one item that makes no progress for the limit (a hung network drive) is a
    ReadError; the abandoned reader stops at its next progress point instead of running
    on."""
    from io_helpers import write_series

    from medview.io import dicom, readers

    series = write_series(tmp_path / "series", 5, size=(8, 8))
    with Project.create(tmp_path / "p") as p:
        p.add_item(
            name="slow",
            kind="3d",
            reader="dicom",
            paths=series,
            shape=(5, 8, 8),
            spacing=(1, 1, 1),
            content_hash="slow",
        )
        monkeypatch.setenv("MEDVIEW_ITEM_READ_SECONDS", "0.5")
        slices_read: list[int] = []

        def hanging_series(paths, progress=None, name=None):  # noqa: ANN001
            for k in range(len(paths)):
                time.sleep(1.0)  # each slice stalls longer than the limit
                slices_read.append(k)
                if progress:
                    progress(k + 1, len(paths))
            raise AssertionError("the abandoned read ran to its end")

        monkeypatch.setattr(dicom, "read_series", hanging_series)
        before = threading.active_count()
        started = time.monotonic()
        with pytest.raises(ReadError, match="no progress"):
            readers.load_item(p, p.items()[0])
        assert time.monotonic() - started < 0.9
        time.sleep(1.5)  # the reader wakes, reports progress and is stopped there
        assert threading.active_count() == before
        assert slices_read == [0]


def test_a_slow_read_that_makes_progress_is_not_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from io_helpers import write_series

    from medview.io import readers

    series = write_series(tmp_path / "series", 6, size=(8, 8))
    with Project.create(tmp_path / "p") as p:
        p.add_item(
            name="ok",
            kind="3d",
            reader="dicom",
            paths=series,
            shape=(6, 8, 8),
            spacing=(1, 1, 1),
            content_hash="ok",
        )
        monkeypatch.setenv("MEDVIEW_ITEM_READ_SECONDS", "0.3")
        ticks: list[int] = []

        def slow_progress(done: int, total: int) -> None:
            ticks.append(done)
            time.sleep(0.1)  # a slow series: 0.6 s in all, but never 0.3 s without progress

        image = readers.load_item(p, p.items()[0], progress=slow_progress)
        assert image.shape[0] == 6 and ticks[-1] == 6


# ---------------------------------------------------------------------------- damaged rows
def _damage(folder: Path) -> None:
    _edit(
        folder,
        "UPDATE items SET shape = '{not json' WHERE name = 'img1'",
        "INSERT INTO runs(id, status, config, metrics) VALUES ('r-bad', 'finished', '{', '[')",
    )


def test_one_damaged_row_is_skipped_and_named_by_items_and_info(tmp_path: Path) -> None:
    folder = _project(tmp_path)
    _damage(folder)
    listed = run_cli("items", folder, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)] == ["img0", "img2"]
    assert "item 2" in listed.stderr and "shape" in listed.stderr
    info = run_cli("info", folder)
    assert info.returncode == 0, info.stderr
    assert "items: 2" in info.stdout and "damaged" in info.stdout and "item 2" in info.stdout
    runs = run_cli("runs", folder, "--json")
    assert runs.returncode == 0, runs.stderr
    assert [r["id"] for r in json.loads(runs.stdout)] == ["r-bad"]  # its bad JSON: empty
    with Project.open(folder) as p:
        assert [i.name for i in p.items()] == ["img0", "img2"]
        assert any("item 2" in d and "shape" in d for d in p.damaged_rows())
        with pytest.raises(ProjectError, match="damaged"):
            p.get_item(2)
        p.set_label(3, "WT")  # the rest of the project works as before
        assert p.get_item(3).label == "WT"


def test_the_window_opens_a_project_with_a_damaged_row(qtbot, tmp_path: Path) -> None:
    from medview.ui.main_window import MainWindow
    from medview.ui.settings import Settings

    folder = _project(tmp_path)
    _damage(folder)
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    project = Project.open(folder)
    window.set_project(project)
    try:
        assert window.browser.model.rowCount() == 2
        assert window.error_bar.isVisibleTo(window) and "damaged" in window.error_bar.text
        assert "item 2" in window.error_bar.text and "shape" in window.error_bar.text
    finally:
        window.close_project()


def test_a_project_of_an_older_version_is_checked_migrated_and_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medview.core import schema

    current = list(schema.MIGRATIONS)
    monkeypatch.setattr(schema, "MIGRATIONS", current[:1])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    folder = _project(tmp_path, n=2)  # written by a medview of schema 1
    monkeypatch.undo()
    with Project.open(folder) as p:
        assert p._query("PRAGMA user_version")[0][0] == len(current)
        assert len(p.items()) == 2
    monkeypatch.setattr(schema, "MIGRATIONS", current[:1])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    older = _project(tmp_path / "older", n=1)
    monkeypatch.undo()
    _edit(older, _LABEL_TRIGGER)  # refused before the migration runs with it in place
    with pytest.raises(ProjectError, match="trigger 'flip'"):
        Project.open(older)
    assert sqlite3.connect(older / "project.db").execute("PRAGMA user_version").fetchone()[0] == 1


def test_a_crafted_project_opened_read_only_is_refused_too(tmp_path: Path) -> None:
    folder = _project(tmp_path, n=1)
    _edit(folder, "DROP TABLE items", _RECURSIVE_ITEMS)
    with pytest.raises(ProjectError, match="view 'items'"):
        Project.open(folder, read_only=True)


def test_the_window_offers_to_open_a_cleaned_copy(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from medview.ui.main_window import MainWindow
    from medview.ui.settings import Settings

    folder = _project(tmp_path)
    _edit(folder, _LABEL_TRIGGER)
    asked: list[str] = []

    def yes(*args: object, **kwargs: object) -> QMessageBox.StandardButton:
        asked.append(str(args[2]))
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", yes)
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    try:
        assert window.open_project(folder)
        assert len(asked) == 1 and "trigger 'flip'" in asked[0]
        assert window.project is not None and window.project.folder.name == "p-clean.medview"
        assert window.browser.model.rowCount() == 3
    finally:
        window.close_project()
