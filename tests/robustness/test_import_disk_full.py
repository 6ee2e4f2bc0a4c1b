"""Import onto a full disk (issue 10): the red team got 2,944 identical lines, exit 0, 2,753
zero-byte .tmp files and 191 orphan .npy in cache/npz. An import must stop at the first
"disk full" (ENOSPC while writing the pixel cache, or SQLite's "database or disk is full")
with one message and a non-zero exit, and leave no temporary or orphan file behind.

A small tmpfs needs root to mount, so the full disk is simulated: numpy's writer raises
ENOSPC after a few rows (as the real one does, leaving a zero-byte file), and SQLite's own
``max_page_count`` makes the database full for real."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from medview.core import schema
from medview.core.project import Project


def _archive(path: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n, 8, 8), dtype=np.uint8)
    np.savez(path, train_images=images, train_labels=(np.arange(n) % 2).reshape(-1, 1))
    return path


def _leftovers(project_folder: Path) -> tuple[list[str], set[str]]:
    """(temporary files anywhere in the project, .npy files no item refers to)."""
    temps = [
        str(Path(root, name))
        for root, _, files in os.walk(project_folder)
        for name in files
        if name.endswith(".tmp")
    ]
    folder = project_folder / "cache" / "npz"
    on_disk = {n for n in os.listdir(folder) if n.endswith(".npy")} if folder.is_dir() else set()
    with Project.open(project_folder) as p:
        assert p.integrity_check() == "ok"
        used = {Path(i.paths[0]).name for i in p.items() if i.reader == "npz"}
    return temps, on_disk - used


def _import(folder: Path, source: Path, capsys: pytest.CaptureFixture[str]):
    from medview.cli import main

    code = main(["import", str(folder), str(source)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_enospc_while_caching_npz_rows_stops_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _archive(tmp_path / "data.npz", 300)
    with Project.create(tmp_path / "p") as p:
        folder = p.folder
    real_save = np.save
    calls = {"n": 0}

    def save_until_full(file, arr, allow_pickle=True, **kw):  # noqa: ANN001
        calls["n"] += 1
        if calls["n"] > 20:  # the disk fills up after 20 rows
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(file, arr, allow_pickle=allow_pickle, **kw)

    monkeypatch.setattr(np, "save", save_until_full)
    code, out, err = _import(folder, archive, capsys)
    monkeypatch.undo()
    assert code == 1, out
    assert err.count("\n") == 1 and "full" in err, err
    assert "imported 20" in err  # what was kept, so the user knows where it stopped
    assert "No space" not in out and out.count("\n") <= 1, out[:2000]
    assert calls["n"] == 21  # stopped at the first failure, not once per row
    temps, orphans = _leftovers(folder)
    assert temps == [] and orphans == set()
    with Project.open(folder) as p:
        assert p.item_count() == 20
    # Space again: the same import completes (the 20 kept are duplicates).
    code, out, _ = _import(folder, archive, capsys)
    assert code == 0 and "imported 280" in out
    assert _leftovers(folder) == ([], set())


def test_a_full_database_stops_the_import_and_removes_its_cache_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _archive(tmp_path / "data.npz", 600)
    with Project.create(tmp_path / "p") as p:
        folder = p.folder
    real_configure = schema.configure

    def tiny_database(connection):  # noqa: ANN001
        mode = real_configure(connection)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages + 8}")  # ~32 KB more: full soon
        return mode

    monkeypatch.setattr(schema, "configure", tiny_database)
    code, out, err = _import(folder, archive, capsys)
    monkeypatch.undo()
    assert code == 1, out[:2000]
    assert err.count("\n") == 1 and "full" in err, err
    assert out.count("\n") <= 1 and "full" not in out, out[:2000]
    temps, orphans = _leftovers(folder)
    assert temps == [] and orphans == set(), (temps[:5], sorted(orphans)[:5])


def test_a_full_database_stops_a_png_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from io_helpers import write_png

    for k in range(300):
        write_png(tmp_path / "pngs" / f"{k:03d}.png", (6, 6), seed=k)
    with Project.create(tmp_path / "p") as p:
        folder = p.folder
    real_configure = schema.configure

    def tiny_database(connection):  # noqa: ANN001
        mode = real_configure(connection)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages + 4}")
        return mode

    monkeypatch.setattr(schema, "configure", tiny_database)
    code, out, err = _import(folder, tmp_path / "pngs", capsys)
    monkeypatch.undo()
    assert code == 1 and err.count("\n") == 1 and "full" in err, (out[:2000], err)
    assert _leftovers(folder)[0] == []


def test_thumbnails_on_a_full_disk_leave_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The import's thumbnail pass writes PNGs into cache/thumbs: a full disk costs the
    cached thumbnail (it is made again when shown), never a zero-byte .tmp file."""
    from io_helpers import write_png
    from PIL import Image as PILImage

    for k in range(5):
        write_png(tmp_path / "pngs" / f"{k}.png", (6, 6), seed=k)
    with Project.create(tmp_path / "p") as p:
        folder = p.folder
    real_save = PILImage.Image.save

    def full_save(self, fp, *args, **kwargs):  # noqa: ANN001
        if str(fp).endswith(".tmp"):
            open(fp, "wb").close()  # created, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(PILImage.Image, "save", full_save)
    code, out, err = _import(folder, tmp_path / "pngs", capsys)
    monkeypatch.undo()
    assert code == 0, err
    assert _leftovers(folder)[0] == []
