"""The studies table (schema version 2): a version-1 project is upgraded on open, runs link to
their study at creation, a study left running by a dead process reads as interrupted."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from medview.core import schema
from medview.core.errors import ProjectError
from medview.core.project import Project


def test_a_version_1_project_gains_the_studies_table(tmp_path: Path) -> None:
    folder = tmp_path / "old.medview"
    (folder / "runs").mkdir(parents=True)
    db = sqlite3.connect(folder / "project.db")
    db.executescript(schema.MIGRATIONS[0])
    db.execute(
        "INSERT INTO runs(id, status, config, metrics) VALUES ('r0', 'finished', '{}', '{}')"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Project.open(folder) as p:
        assert p._db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION >= 2
        assert p.get_run("r0").study_id is None  # old runs belong to no study
        assert p.studies() == []
        assert p.integrity_check() == "ok"


def test_runs_link_to_their_study(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as p:
        folder = p.create_study("s1", "compare", {"models": ["a", "b"]})
        assert folder == p.runs_dir / "s1" and folder.is_dir()
        p.create_run("s1-a", {"extra": {"study_id": "s1"}}, model="a")
        p.create_run("plain", {}, model="a")
        assert [r.id for r in p.study_runs("s1")] == ["s1-a"]
        assert p.get_run("plain").study_id is None
        p.set_study_status("s1", "finished")
        s = p.get_study("s1")
        assert s.status == "finished" and s.finished_at and s.spec["models"] == ["a", "b"]
        with pytest.raises(ProjectError, match="already exists"):
            p.create_study("s1", "compare", {})
        with pytest.raises(ProjectError, match="invalid study id"):
            p.create_study("../x", "compare", {})
        with pytest.raises(ProjectError, match="no study"):
            p.get_study("nope")
        p.delete_run("s1-a")
        assert p.study_runs("s1") == []


def test_a_study_left_running_by_a_dead_process_reads_interrupted(tmp_path: Path) -> None:
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Project.create(tmp_path / "p") as p:
        owner = {"pid": dead.pid, "host": socket.gethostname()}
        p.create_study("s1", "tune", {"owner": owner})
        assert p.get_study("s1").status == "interrupted"
        p.create_study("s2", "tune", {"owner": {"pid": 1, "host": "elsewhere"}})
        assert p.get_study("s2").status == "running"  # another machine's: cannot tell
