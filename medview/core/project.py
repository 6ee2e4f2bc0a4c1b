"""The project: a folder ``NAME.medview/`` with ``project.db`` (SQLite), ``runs/`` and ``cache/``.

Why it is built this way:

* Every write is its own committed transaction (WAL + ``synchronous=FULL``), so a label is on
  disk before ``set_label`` returns and a killed process loses nothing that was acknowledged.
* Images are referenced, not copied: absolute path, path relative to the project, size and a
  content hash, so a moved data folder can be re-linked by hash.
* Items (``item_store``), the label set and labels (``label_store``), runs and predictions
  (``run_store``), studies and perceptual hashes live in their own modules, mixed into
  ``Project``; ``store`` holds the connection and transactions. This module opens and creates
  projects and holds what belongs to the project as a whole (name, salt, cache files).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from medview.core import readonly, schema, schema_check
from medview.core.containment import check_no_links
from medview.core.disk_cache import cache_folder
from medview.core.errors import ProjectError
from medview.core.item import SPLITS, Item
from medview.core.item_store import ItemStore
from medview.core.key_slice_store import KeySliceStore
from medview.core.labels import color_for, validate_class_names
from medview.core.phash_store import PhashStore
from medview.core.run_store import RUN_STATUSES, Prediction, Run, RunStore
from medview.core.store import DB_NAME, now_iso
from medview.core.study_store import Study, StudyStore

PROJECT_SUFFIX = ".medview"
_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class Project(ItemStore, RunStore, StudyStore, PhashStore, KeySliceStore):
    """An open project. Use :meth:`create` or :meth:`open`; close it (or use ``with``)."""

    # ------------------------------------------------------------------ opening and closing
    @staticmethod
    def normalise_path(path: str | os.PathLike[str]) -> Path:
        folder = Path(path).expanduser()
        if folder.suffix != PROJECT_SUFFIX and not (folder / DB_NAME).exists():
            folder = folder.with_name(folder.name + PROJECT_SUFFIX)
        return folder.absolute()

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        classes: Sequence[str] = ("WT", "MUT"),
        name: str | None = None,
    ) -> Project:
        folder = cls.normalise_path(path)
        if (folder / DB_NAME).exists():
            raise ProjectError(f"{folder}: a project already exists here")
        validate_class_names(list(classes))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "runs").mkdir(exist_ok=True)
            (folder / "cache").mkdir(exist_ok=True)
        except OSError as exc:
            raise ProjectError(
                f"{folder}: cannot create the project folder ({exc.strerror})"
            ) from exc
        project = cls._connect(folder)
        with project._transaction() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES ('name', ?), ('created_at', ?), ('salt', ?)",
                (
                    name or folder.name.removesuffix(PROJECT_SUFFIX),
                    now_iso(),
                    secrets.token_hex(16),
                ),
            )
            for position, class_name in enumerate(classes):
                db.execute(
                    "INSERT INTO classes(name, color, position) VALUES (?, ?, ?)",
                    (class_name, color_for(position), position),
                )
        return project

    @classmethod
    def open(cls, path: str | os.PathLike[str], read_only: bool | None = None) -> Project:
        """Open a project. ``read_only`` None: read-only when this process cannot write it
        (a colleague's share); then ``project.read_only`` is True and writes are refused."""
        folder = cls.normalise_path(path)
        if not (folder / DB_NAME).is_file():
            raise ProjectError(f"{folder}: not a medview project (no {DB_NAME})")
        reason = readonly.write_problem(folder, folder / DB_NAME)
        if read_only or (read_only is None and reason):
            return cls._connect_read_only(folder, reason or "opened read-only")
        try:
            project = cls._connect(folder)
        except ProjectError as exc:
            cause = exc.__cause__
            refused = isinstance(cause, sqlite3.Error) and readonly.is_read_only_error(cause)
            if read_only is None and refused:
                return cls._connect_read_only(folder, "the project's folder refuses writes")
            raise
        project._mark_dead_runs_interrupted()
        return project

    @classmethod
    def _connect_read_only(cls, folder: Path, reason: str) -> Project:
        """See medview/core/readonly.py: no configure, no migration, no writes."""
        db_path = folder / DB_NAME
        connection, mode = readonly.connect(db_path)
        try:
            readonly.check_schema_version(connection, db_path, schema.SCHEMA_VERSION)
            schema_check.verify(connection, db_path)  # read-only too: no view or trigger runs
        except BaseException:
            connection.close()
            raise
        project = cls(folder, connection, "read-only")
        project.read_only = True
        project.read_only_reason = reason
        project.read_only_mode = mode
        return project

    @classmethod
    def _connect(cls, folder: Path) -> Project:
        db_path = folder / DB_NAME
        try:
            connection = sqlite3.connect(
                db_path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            journal_mode = schema.configure(connection)
            # Before anything reads a table (a migration included): a view, trigger or
            # unknown object in someone else's project.db is refused, not run.
            schema_check.verify(connection, db_path)
            if schema.migrate(connection):
                schema_check.verify(connection, db_path)
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise ProjectError(f"{db_path}: cannot open the project database ({exc})") from exc
        except BaseException:
            connection.close()
            raise
        return cls(folder, connection, journal_mode)

    @property
    def cache_dir(self) -> Path:
        return self.folder / "cache"

    def cache_file(self, subdir: str, key: str, suffix: str) -> Path:
        """A file under ``cache/SUBDIR/`` named by a key such as a content hash.

        The key comes from the database, which may be someone else's project file: anything
        but a plain token is refused so a crafted value cannot point outside the project, and
        the folders are made without following a link (``UnsafePathError`` names it).
        """
        for part in (subdir, key, suffix.lstrip(".")):
            if not _SAFE_TOKEN.fullmatch(part):
                raise ProjectError(f"unsafe cache key {part!r} in {self.db_path}")
        path = cache_folder(self.folder, subdir) / f"{key}{suffix}"
        check_no_links(self.folder, path)
        return path

    def pseudonymise(self, patient_id: str) -> str:
        """A group key for a patient id: a salted hash, unless the user opted in to keep ids
        (``keep_patient_ids`` = ``"1"`` in the project meta). The salt is per project, so the
        same patient gets the same key inside a project and an unlinkable one across projects.
        """
        if self.get_meta("keep_patient_ids") == "1":
            return patient_id
        salt = self.get_meta("salt") or ""
        digest = hashlib.sha256(f"{salt}:{patient_id}".encode()).hexdigest()
        return f"pt-{digest[:12]}"

    @property
    def name(self) -> str:
        return self.get_meta("name") or self.folder.stem


__all__ = ["DB_NAME", "Item", "Prediction", "Project", "Run", "RUN_STATUSES", "SPLITS", "Study"]
