"""Storage: the rollback-journal fallback where WAL is refused (network file systems), and a
disk that fills up during a run or while labelling (a small tmpfs; skipped where mounting is
not permitted)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rb_helpers import cli_env, run_cli
from test_crash import TINY_TRAIN, _burst_and_kill, _project, _training_project

from medview.core import schema
from medview.core.project import Project


class _NoWalConnection:
    """A connection as on NFS/SMB: asking for WAL leaves the journal in its old mode."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self._real = real

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql.replace(" ", "").upper() == "PRAGMAJOURNAL_MODE=WAL":
            return self._real.execute("PRAGMA journal_mode")
        return self._real.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def test_refused_wal_falls_back_to_a_durable_rollback_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sqlite3.connect(tmp_path / "probe.db", isolation_level=None)
    assert schema.configure(_NoWalConnection(real)) == "delete"  # type: ignore[arg-type]
    assert real.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    real.close()
    # The whole store on such a connection: labels committed, readable by another process.
    original = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: _NoWalConnection(original(*a, **k)))
    with Project.create(tmp_path / "p") as p:
        assert p.journal_mode == "delete"
        p.add_item(
            name="a",
            kind="2d",
            reader="raster",
            paths=[tmp_path / "a.png"],
            shape=(1, 4, 4),
            spacing=(1, 1, 1),
            content_hash="h",
        )
        p.set_label(1, "MUT")
        assert not (p.folder / "project.db-wal").exists()
    monkeypatch.undo()
    out = run_cli("items", tmp_path / "p.medview", "--json")
    assert json.loads(out.stdout)[0]["label"] == "MUT"


def test_kill_9_label_burst_in_rollback_journal_mode(tmp_path: Path) -> None:
    folder = _project(tmp_path)
    with Project.open(folder):
        pass
    env = cli_env(MEDVIEW_JOURNAL="delete")
    assert _burst_and_kill("cli", folder, 60, env) == 0
    with Project.open(folder) as p:
        assert p.integrity_check() == "ok"


# ---------------------------------------------------------------------------- a full disk
@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system holding ``folder`` up to ``leave`` bytes of free space."""
    filler = folder / "filler.bin"
    with open(filler, "wb") as handle:
        try:
            while True:
                free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
                if free <= leave:
                    break
                handle.write(b"\0" * min(64 * 1024, max(4096, free - leave)))
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_during_training_ends_the_run_cleanly(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    with small_disk(tmp_path / "disk", "1m") as disk:
        folder = _training_project(disk)  # images in the project folder's disk too
        # One fold's weights alone (~1.1 MB) do not fit: the run starts and fails mid-way.
        result = run_cli("train", folder, *TINY_TRAIN, "--epochs", "1", "--json-progress")
        assert result.returncode == 1, result.stdout[-2000:]
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("medview:")]
        assert len(errors) == 1 and "disk is full" in errors[0], result.stderr
        failed = [json.loads(x) for x in result.stdout.splitlines() if '"failed"' in x]
        assert failed and "disk is full" in failed[-1]["error"]
        with Project.open(folder) as p:
            assert p.integrity_check() == "ok"
            (run,) = p.runs()
            assert run.status == "failed" and "disk is full" in (run.message or "")
            assert len(p.items(labelled=True)) == 8


def test_a_full_disk_while_labelling_is_a_one_line_error_and_loses_nothing(
    tmp_path: Path,
) -> None:
    # 2 MB: creating the project's 25 items leaves a few hundred KB of WAL (schema v3 has more
    # tables and indexes); the disk is then filled to the last byte before labelling anyway.
    with small_disk(tmp_path / "disk", "2m") as disk:
        folder = _project(disk)
        assert run_cli("label", folder, "1", "WT").returncode == 0
        filler = _fill(disk)
        answers = [run_cli("label", folder, str(i), "MUT") for i in range(2, 40)]
        refused = [a for a in answers if a.returncode != 0]
        assert refused, "the disk never filled up"
        for answer in refused:
            assert answer.returncode == 1
            assert "Traceback" not in answer.stderr and "internal error" not in answer.stderr
            assert answer.stderr.count("\n") == 1 and "full" in answer.stderr, answer.stderr
        stored_ok = {i + 2 for i, a in enumerate(answers) if a.returncode == 0}
        filler.unlink()
        with Project.open(folder) as p:
            assert p.integrity_check() == "ok"
            labels = {i.id: i.label for i in p.items()}
        assert labels[1] == "WT"
        assert all(labels[i] == "MUT" for i in stored_ok)
