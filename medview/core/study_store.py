"""Model studies (mixed into ``Project``): a study is a group of runs that share folds, seed,
preprocessing and budget and differ only in what is compared (the models, or the settings a
search tries). The runs stay ordinary runs; each one names its study in ``runs.study_id``.

The study's own files (study.json, study.csv, plots) live in ``runs/<study-id>/``.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medview.core.containment import ensure_dir
from medview.core.errors import ProjectError
from medview.core.run_store import Run, RunStore, _process_alive, is_safe_run_id
from medview.core.store import Store, now_iso

STUDY_KINDS = ("compare", "tune")
STUDY_STATUSES = ("running", "finished", "cancelled", "failed", "interrupted")


@dataclass
class Study:
    id: str
    kind: str  # compare | tune
    status: str
    spec: dict[str, Any]  # what the study compares and the settings its runs share
    created_at: str
    finished_at: str | None
    message: str | None


class StudyStore(Store):
    def study_dir(self, study_id: str) -> Path:
        if not is_safe_run_id(study_id):
            raise ProjectError(f"invalid study id {study_id!r} (a plain folder name is needed)")
        return self.folder / "runs" / study_id

    def create_study(self, study_id: str, kind: str, spec: dict[str, Any]) -> Path:
        if kind not in STUDY_KINDS:
            raise ProjectError(f"study kind must be one of {', '.join(STUDY_KINDS)}")
        folder = self.study_dir(study_id)
        if self._query("SELECT id FROM studies WHERE id = ?", (study_id,)):
            raise ProjectError(f"a study {study_id!r} already exists")
        self._refuse_taken_folder(study_id, folder)
        ensure_dir(self.folder, folder)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO studies(id, kind, status, spec, created_at) "
                "VALUES (?, ?, 'running', ?, ?)",
                (study_id, kind, json.dumps(spec), now_iso()),
            )
        return folder

    def _refuse_taken_folder(self, study_id: str, folder: Path) -> None:
        """A study's files go to ``runs/<study-id>/``: an id that is a run's (or names any
        folder already holding files) would overwrite that run's roc.png and the rest."""
        if self._query("SELECT id FROM runs WHERE id = ?", (study_id,)):
            raise ProjectError(
                f"a run {study_id!r} already exists: a study of that id would write into its "
                "folder; choose another study id"
            )
        if os.path.lexists(folder) and not (folder.is_dir() and not any(folder.iterdir())):
            raise ProjectError(f"{folder} already exists: choose another study id")

    def set_study_status(self, study_id: str, status: str, message: str | None = None) -> None:
        if status not in STUDY_STATUSES:
            raise ProjectError(f"study status must be one of {', '.join(STUDY_STATUSES)}")
        with self._transaction() as db:
            db.execute(
                "UPDATE studies SET status = ?, finished_at = ?, message = ? WHERE id = ?",
                (status, now_iso() if status != "running" else None, message, study_id),
            )

    def update_study_spec(self, study_id: str, spec: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute("UPDATE studies SET spec = ? WHERE id = ?", (json.dumps(spec), study_id))

    def studies(self) -> list[Study]:
        rows = self._query("SELECT * FROM studies ORDER BY created_at, id")
        return [_study_from_row(r) for r in rows if is_safe_run_id(r["id"])]

    def get_study(self, study_id: str) -> Study:
        rows = self._query("SELECT * FROM studies WHERE id = ?", (study_id,))
        if not rows or not is_safe_run_id(study_id):
            raise ProjectError(f"no study {study_id!r} (see 'medview study PROJECT --list')")
        return _study_from_row(rows[0])

    def set_run_study(self, run_id: str, study_id: str | None) -> None:
        with self._transaction() as db:
            db.execute("UPDATE runs SET study_id = ? WHERE id = ?", (study_id, run_id))

    def study_runs(self, study_id: str) -> list[Run]:
        """The study's runs, oldest first."""
        rows = self._query(
            "SELECT * FROM runs WHERE study_id = ? ORDER BY started_at, id", (study_id,)
        )
        return [RunStore._run_from_row(r) for r in rows if is_safe_run_id(r["id"])]


def _study_from_row(r: Any) -> Study:
    spec = json.loads(r["spec"] or "{}")
    status = r["status"]
    # A study left 'running' by a process that is gone (killed, crashed) was interrupted: its
    # finished runs are kept and --resume continues it. Only this machine's processes can be
    # checked (a shared project folder may have a study running elsewhere).
    owner = spec.get("owner") or {}
    if (
        status == "running"
        and owner.get("host") == socket.gethostname()
        and not _process_alive(int(owner.get("pid") or 0))
    ):
        status = "interrupted"
    return Study(
        id=r["id"],
        kind=r["kind"],
        status=status,
        spec=spec,
        created_at=r["created_at"],
        finished_at=r["finished_at"],
        message=r["message"],
    )
