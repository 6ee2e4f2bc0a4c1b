"""Training runs and their predictions (mixed into ``Project``)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medview.core.containment import check_no_links, ensure_dir
from medview.core.errors import ProjectError
from medview.core.rows import DamagedRow, json_list, json_value
from medview.core.store import Store, now_iso

RUN_STATUSES = ("running", "finished", "failed", "cancelled", "interrupted")


@dataclass
class Run:
    id: str
    status: str
    model: str | None
    config: dict[str, Any]
    metrics: dict[str, Any]
    started_at: str | None
    finished_at: str | None
    message: str | None
    study_id: str | None = None  # the study the run belongs to (medview.core.study_store)


@dataclass
class Prediction:
    run_id: str
    item_id: int
    fold: int
    split: str | None
    probabilities: list[float]
    predicted: str | None
    at: str


def is_safe_run_id(run_id: object) -> bool:
    """A run id names one folder directly under ``runs/``: no separators, no ``..``, no
    drive. Ids come from the project database, which may be someone else's file; an unsafe
    one is refused everywhere so a crafted row cannot make medview read or write elsewhere.
    """
    if not isinstance(run_id, str) or run_id in ("", ".", ".."):
        return False
    return not any(c in run_id for c in "/\\:\0") and Path(run_id).name == run_id


class RunStore(Store):
    @property
    def runs_dir(self) -> Path:
        return self.folder / "runs"

    # ------------------------------------------------------------------ runs
    def create_run(self, run_id: str, config: dict[str, Any], model: str | None = None) -> None:
        if not is_safe_run_id(run_id):
            raise ProjectError(f"invalid run id {run_id!r} (a plain folder name is needed)")
        # A run of a study (training/study.py) carries the study's id in its config's extra
        # settings; it is linked at creation, so even a run killed mid-way knows its study.
        study_id = (config.get("extra") or {}).get("study_id")
        ensure_dir(self.folder, self.run_dir(run_id))
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs(id, status, model, config, metrics, started_at, pid, host, "
                "study_id) VALUES (?, 'running', ?, ?, '{}', ?, ?, ?, ?)",
                (
                    run_id,
                    model,
                    json.dumps(config),
                    now_iso(),
                    os.getpid(),
                    socket.gethostname(),
                    study_id,
                ),
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        metrics: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        if status not in RUN_STATUSES:
            raise ProjectError(f"run status must be one of {', '.join(RUN_STATUSES)}")
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, metrics = COALESCE(?, metrics), finished_at = ?, "
                "message = ? WHERE id = ?",
                (
                    status,
                    json.dumps(metrics) if metrics is not None else None,
                    now_iso() if status != "running" else None,
                    message,
                    run_id,
                ),
            )

    def set_run_owner(self, run_id: str, pid: int) -> None:
        """Record which process is doing the run (the worker, not the window)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET pid = ?, host = ? WHERE id = ?",
                (int(pid), socket.gethostname(), run_id),
            )

    @staticmethod
    def _run_from_row(
        row: sqlite3.Row, note_damaged: Callable[[str, str], None] | None = None
    ) -> Run:
        """A run row; bad JSON in its config or metrics (a damaged or hand-edited database)
        shows the run without them, reported through ``note_damaged`` (damaged_rows())."""
        values = {}
        for column in ("config", "metrics"):
            try:
                values[column] = json_value(row, column, dict, default="{}")
            except DamagedRow as exc:
                values[column] = {}
                if note_damaged is not None:
                    note_damaged(
                        f"runs {row['id']} {column}", f"run {row['id']}: {exc}, shown without it"
                    )
        return Run(
            id=row["id"],
            status=row["status"],
            model=row["model"],
            config=values["config"],
            metrics=values["metrics"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            message=row["message"],
            study_id=row["study_id"],
        )

    def runs(self) -> list[Run]:
        """Every run, oldest first; rows with an unsafe id (a crafted database) left out."""
        rows = self._query("SELECT * FROM runs ORDER BY started_at, id")
        return [self._run_from_row(r, self.note_damaged) for r in rows if is_safe_run_id(r["id"])]

    def get_run(self, run_id: str) -> Run:
        if not is_safe_run_id(run_id):
            raise ProjectError(
                f"invalid run id {run_id!r}: refused, it would point outside {self.runs_dir}"
            )
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise ProjectError(f"no run {run_id!r} (see 'medview runs')")
        return self._run_from_row(rows[0], self.note_damaged)

    def run_dir(self, run_id: str) -> Path:
        """``runs/<run_id>`` as a real folder of this project: an unsafe id, or a link at
        ``runs`` or at the run folder (someone else's project), is refused with a
        ProjectError (``UnsafePathError``) rather than followed."""
        if not is_safe_run_id(run_id):
            raise ProjectError(
                f"invalid run id {run_id!r}: refused, it would point outside {self.runs_dir}"
            )
        return check_no_links(self.folder, self.runs_dir / run_id)

    def delete_run(self, run_id: str) -> str | None:
        """Forget a run and delete its folder under runs/ (and nothing outside it).

        Returns None when all is gone, else a note saying what was left and why: a row with
        an unsafe id, or a run folder reached through a link (``runs`` or ``runs/<id>``
        itself a link), is forgotten without touching any folder."""
        if is_safe_run_id(run_id):
            self.get_run(run_id)
        elif not self._query("SELECT id FROM runs WHERE id = ?", (run_id,)):
            raise ProjectError(f"no run {run_id!r} (see 'medview runs')")
        with self._transaction() as db:
            db.execute("DELETE FROM predictions WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        if not is_safe_run_id(run_id):
            return f"run {run_id!r} forgotten; its id names no folder of this project"
        note = self.remove_run_folder(run_id)
        return f"run {run_id} forgotten, its folder left in place: {note}" if note else None

    def remove_run_folder(self, run_id: str) -> str | None:
        """Delete ``runs/<run_id>`` if it is a real folder of this project; None when done
        (or there was none), else why it was left: a link at ``runs`` or at the run folder
        is never followed (resolve() would, and then find the target "inside")."""
        try:
            run_dir = self.run_dir(run_id)
            info = os.lstat(run_dir)
        except FileNotFoundError:
            return None
        except (ProjectError, OSError) as exc:
            return str(exc)
        if stat.S_ISDIR(info.st_mode):
            # rmtree unlinks links inside the folder, never their targets.
            shutil.rmtree(run_dir, ignore_errors=True)
        return None

    def _mark_dead_runs_interrupted(self) -> None:
        """A run left 'running' by a process that no longer exists was interrupted."""
        host = socket.gethostname()
        rows = self._query("SELECT id, pid, host FROM runs WHERE status = 'running'")
        for row in rows:
            if row["host"] == host and row["pid"] and _process_alive(int(row["pid"])):
                continue
            if row["host"] not in (None, host):
                continue  # a run on another machine (shared project folder): cannot tell
            self.finish_run(row["id"], "interrupted", message="the process running it stopped")

    # ------------------------------------------------------------------ predictions
    def add_predictions(
        self,
        run_id: str,
        rows: Iterable[tuple[int, int, str | None, Sequence[float], str | None]],
    ) -> None:
        """Store (item id, fold, split, probabilities, predicted class) rows for a run.
        Fold 0 means the fold ensemble (the run's final prediction)."""
        stamp = now_iso()
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO predictions"
                "(run_id, item_id, fold, split, probabilities, predicted, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(run_id, item_id, fold) DO UPDATE SET "
                "split = excluded.split, probabilities = excluded.probabilities, "
                "predicted = excluded.predicted, at = excluded.at",
                [
                    (run_id, int(i), int(f), s, json.dumps([float(p) for p in probs]), pred, stamp)
                    for i, f, s, probs, pred in rows
                ],
            )

    def predictions(self, run_id: str) -> list[Prediction]:
        rows = self._query(
            "SELECT * FROM predictions WHERE run_id = ? ORDER BY item_id, fold", (run_id,)
        )
        return [p for p in map(self._prediction_or_none, rows) if p is not None]

    def latest_predictions(self) -> dict[int, Prediction]:
        """Per item, the most recent prediction of any run (ensemble rows preferred)."""
        rows = self._query(
            "SELECT * FROM predictions ORDER BY at, fold = 0, run_id"
        )  # later rows win
        latest: dict[int, Prediction] = {}
        for r in rows:
            prediction = self._prediction_or_none(r)
            if prediction is not None:
                latest[r["item_id"]] = prediction
        return latest

    def _prediction_or_none(self, row: sqlite3.Row) -> Prediction | None:
        try:
            return _prediction_from_row(row)
        except DamagedRow as exc:
            self.note_damaged(
                f"predictions {row['run_id']} {row['item_id']} {row['fold']}",
                f"prediction of run {row['run_id']} for item {row['item_id']} skipped: {exc}",
            )
            return None


def _prediction_from_row(r: sqlite3.Row) -> Prediction:
    return Prediction(
        r["run_id"],
        r["item_id"],
        r["fold"],
        r["split"],
        json_list(r, "probabilities", float),
        r["predicted"],
        r["at"],
    )


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
