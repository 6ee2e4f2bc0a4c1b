"""Items of an import added in batches (one transaction each), one by one when a batch fails,
and the cache files of rows that were not added removed again."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medview.core.errors import DiskFullError, MedviewError
from medview.io.common import describe
from medview.io.import_report import Duplicate, ImportedItem, ImportReport
from medview.io.scanning import Skipped


class ImportBatch:
    """Items waiting to be added in one transaction. A commit per item costs an fsync (about
    5 ms), which made a 3000-row archive take 15 s; batches of up to 256 items, or whatever
    a second gathered, keep imports fast while the window still sees items arrive. A crash
    loses at most the batch in flight, and re-importing (duplicates are skipped) restores it.
    """

    SIZE = 256
    SECONDS = 1.0

    def __init__(self, project: Any, report: ImportReport) -> None:
        self.project = project
        self.report = report
        # (entry, where, wanted label, cache file this import created for it or None)
        self.pending: list[tuple[dict[str, Any], str, str | None, Path | None]] = []
        self.refused_labels: list[str] = []
        self.started = time.monotonic()

    def add(
        self, entry: dict[str, Any], where: str, wanted: str | None, created: Path | None = None
    ) -> None:
        self.pending.append((entry, where, wanted, created))
        if len(self.pending) >= self.SIZE or time.monotonic() - self.started > self.SECONDS:
            self.flush()

    @staticmethod
    def remove_created(rows: Sequence[tuple[Any, Any, Any, Path | None]]) -> None:
        """Cache files written for rows that were not added: orphans otherwise. Only files
        this import created (an existing one may belong to another item)."""
        for *_, created in rows:
            if created is not None:
                with contextlib.suppress(OSError):
                    os.unlink(created)

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        self.started = time.monotonic()
        if not pending:
            return
        ids: list[int | None]
        try:
            ids = self.project.add_new_items([entry for entry, *_ in pending])
        except DiskFullError:
            self.remove_created(pending)
            raise
        except Exception:
            # One bad entry fails the whole transaction: add them one by one to find it.
            ids = []
            for k, (entry, where, _, created) in enumerate(pending):
                try:
                    ids.extend(self.project.add_new_items([entry]))
                except DiskFullError:
                    self._record(pending[:k], ids)
                    self.remove_created(pending[k:])
                    raise
                except Exception as exc:
                    reason = str(exc) if isinstance(exc, MedviewError) else describe(exc)
                    self.report.skipped.append(Skipped(where, reason))
                    self.remove_created([(entry, where, None, created)])
                    ids.append(-1)
        self._record(pending, ids)

    def _record(
        self, pending: Sequence[tuple[Any, str, str | None, Any]], ids: Sequence[int | None]
    ) -> None:
        for item_id, (entry, where, wanted, _) in zip(ids, pending, strict=True):
            if item_id is None:
                # Added meanwhile by another import of the same files: a duplicate. Its
                # cache file (an npz row's, named by content) is that item's too: kept.
                self.report.duplicates.append(Duplicate(where, entry["name"]))
                continue
            if item_id < 0:
                continue
            label = entry.get("label")
            if label is None and wanted:
                self.refused_labels.append(wanted)
            self.report.imported.append(ImportedItem(item_id, entry["name"], label, where))
