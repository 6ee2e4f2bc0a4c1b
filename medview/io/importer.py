"""Import files and folders into a project: scan, label, detect duplicates, add items.

Labels come from, in this order of precedence: a CSV row for the file (``labels_csv``), the
folder layout (``label_from="folder"``), the label stored in an npz archive.

* Folder labels: the nearest enclosing folder (up to the scanned root) whose name is one of the
  project's classes; failing that, the top-level folder under the scanned root
  (``root/WT/a.png`` -> WT, ``root/WT/mouse1/*.dcm`` -> WT); for files directly in the
  root, the root's own name (``import WT/`` -> WT), unless the root also has class
  subfolders (then loose files beside them stay unlabelled).
  When those top-level folders look like patients or samples rather than classes (many
  new classes of one item each, or names such as ``patient001``), nothing is imported and
  the message offers ``label_from="folder:N"``, which takes the folder N levels up from
  each file: 1 = the file's own folder, 2 = its parent (``root/patient/class/a.png`` needs
  ``folder:1``; ``root/patient/class/series/*.dcm`` needs ``folder:2``). Folders above the
  scanned root are never used.
* npz labels: value ``i`` is the archive's own class name ``i`` when it carries names,
  otherwise the project's class at position ``i``, otherwise a new class named ``"i"``.

Class names match case-insensitively; unknown classes are added (up to the 9 a project can
hold) and reported. Identical content (same hash) is never imported twice: it is reported as a
duplicate, so re-importing a folder adds nothing. Each item is committed on its own, so a bad
file, a cancel or a crash never loses the items already imported.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from medview.core.errors import DiskFullError, MedviewError, ReadError, is_disk_full
from medview.core.output_paths import MANAGED_FOLDERS
from medview.io.common import describe
from medview.io.folder_labels import check_folder_labels, nested_roots, parse_label_from
from medview.io.group_pattern import compile_group_pattern
from medview.io.import_batch import ImportBatch
from medview.io.import_classes import ImportClasses
from medview.io.import_entry import ArchiveRows, ImportOptions, prepare_entry
from medview.io.import_report import Duplicate, ImportedItem, ImportReport, LabelConflict
from medview.io.labels_csv import read_labels_csv
from medview.io.scanning import Candidate, Skipped, cancelled, scan

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool] | threading.Event | None


def import_sources(
    project: Any,
    sources: Sequence[str | Path] | str | Path,
    *,
    label_from: str | None = None,
    labels_csv: str | Path | None = None,
    split: str | None = None,
    group_pattern: str | None = None,
    progress: Progress | None = None,
    cancel: Cancel = None,
    phash: bool = True,
) -> ImportReport:
    """Import images from files and folders into ``project``. See the module docstring.
    ``phash``: decode each new item once for its thumbnail and perceptual hash."""
    if isinstance(sources, str | Path):
        sources = [sources]
    _refuse_project_sources(project.folder, sources)
    options = _options(label_from, labels_csv, split, group_pattern)
    report = ImportReport()
    found = scan(sources, progress=progress, cancel=cancel)
    report.skipped.extend(found.skipped)
    if found.cancelled:
        report.cancelled = True
        return report
    run = _Import(project, report, options, found.found)
    run.check_folder_labels()
    run.add_all(progress, cancel)
    if phash and report.imported and not report.cancelled:
        _thumbnail_pass(project, report, progress, cancel)
    if progress:
        progress(len(found.found), len(found.found), "done")
    run.note_refused_classes()
    if options.csv_labels is not None:
        unused = sum(1 for r in options.csv_labels.rows if not r.used)
        if unused:
            report.notes.append(f"{unused} row(s) of {labels_csv} matched no imported file")
    report.counts = _class_counts(report)
    return report


def _refuse_project_sources(folder: Path, sources: Sequence[str | Path]) -> None:
    """The project itself, or a folder medview manages inside it (runs/, cache/), is not a
    source: its cache tensors and run plots would become items, which cache pruning may later
    delete. A folder of the user's own images kept inside the project (the bundled example's
    example-data/) is one."""
    project = Path(folder).resolve()
    managed = [project / name for name in MANAGED_FOLDERS]
    for source in sources:
        real = Path(source).resolve()
        if real == project or any(real == m or m in real.parents for m in managed):
            raise MedviewError(
                f"{source}: is the project {folder} or inside it; import the image folders "
                "themselves, not the project"
            )


def _options(
    label_from: str | None,
    labels_csv: str | Path | None,
    split: str | None,
    group_pattern: str | None,
) -> ImportOptions:
    """The import's options checked before anything is scanned (MedviewError/ReadError)."""
    from medview.core.item import SPLITS

    folder_level = parse_label_from(label_from)
    if split is not None and split not in SPLITS:
        raise MedviewError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    pattern = compile_group_pattern(group_pattern) if group_pattern else None
    csv_labels = read_labels_csv(labels_csv) if labels_csv else None
    return ImportOptions(csv_labels, folder_level, split, pattern)


class _Import:
    """One import's candidates added to the project: labels resolved, duplicates and label
    conflicts found, items written in batches."""

    def __init__(
        self, project: Any, report: ImportReport, options: ImportOptions, found: list[Candidate]
    ) -> None:
        self.project, self.report, self.options = project, report, options
        self.candidates = found
        self.classes = ImportClasses(project, report)
        self.nested = nested_roots(found)
        self.known: set[str] = set()
        self.added_now: dict[str, tuple[str, str, str | None]] = {}  # hash -> (name, where, label)
        self.arrays = ArchiveRows()
        self.batch = ImportBatch(project, report)

    def check_folder_labels(self) -> None:
        """Folder labels that look like patients stop the import before anything is added."""
        level, csv_labels = self.options.folder_level, self.options.csv_labels
        if level is None:
            return
        unlabelled = [c for c in self.candidates if csv_labels is None or not csv_labels.find(c)]
        check_folder_labels(unlabelled, self.classes, level, self.nested, self.report)

    def add_all(self, progress: Progress | None, cancel: Cancel) -> None:
        self.known = self.project.known_hashes()
        total = len(self.candidates)
        try:
            for index, candidate in enumerate(self.candidates):
                if cancelled(cancel):
                    self.report.cancelled = True
                    break
                if progress:
                    progress(index, total, f"adding {candidate.name}")
                self.add(candidate)
            self.batch.flush()
        except DiskFullError as exc:
            # Every later write would fail the same way: stop at the first, keep what fits,
            # and leave no file behind that no item refers to.
            with contextlib.suppress(DiskFullError):
                self.batch.flush()
            raise DiskFullError(
                f"{exc}; import stopped, imported {len(self.report.imported)} item(s) before "
                "that. Free some space and import again (items already imported are skipped)"
            ) from exc

    def add(self, candidate: Candidate) -> None:
        where = candidate.paths[0] if candidate.reader != "npz" else _npz_where(candidate)
        content_hash = candidate.content_hash
        duplicate = content_hash in self.known or content_hash in self.added_now
        csv_labels = self.options.csv_labels
        if csv_labels is not None and duplicate:
            row = csv_labels.find(candidate)  # a duplicate's row is not "unmatched"
            if row is not None:
                row.used = True
        try:
            entry, wanted, created = prepare_entry(
                self.project, candidate, self.classes, self.options, self.arrays, self.nested
            )
        except Exception as exc:
            self._skip(where, exc)
            return
        if duplicate and not self._keep_duplicate(content_hash, where, entry, created):
            return
        self.added_now.setdefault(content_hash, (candidate.name, where, entry.get("label")))
        self.batch.add(entry, where, wanted, created)

    def _skip(self, where: str, exc: Exception) -> None:
        if is_disk_full(exc):
            raise _as_disk_full(exc) from exc
        if isinstance(exc, MedviewError):
            reason = exc.reason if isinstance(exc, ReadError) else str(exc)
            self.report.skipped.append(Skipped(where, reason))
        else:  # never let one item stop the others
            self.report.skipped.append(Skipped(where, f"cannot import ({describe(exc)})"))

    def _keep_duplicate(
        self, content_hash: str, where: str, entry: dict[str, Any], created: Path | None
    ) -> bool:
        """A plain duplicate is reported and dropped; a copy filed under another class is
        kept (a label conflict), so the user sees both and decides."""
        conflict = _label_conflict(
            self.project, content_hash, self.added_now, where, entry.get("label")
        )
        if conflict is not None:
            self.report.label_conflicts.append(conflict)
            return True
        existing = self.added_now.get(content_hash)
        if existing is None:
            known_items = self.project.items_by_hash(content_hash)
            name = known_items[0].name if known_items else "?"
        else:
            name = existing[0]
        self.report.duplicates.append(Duplicate(where, name))
        ImportBatch.remove_created([(None, None, None, created)])
        return False

    def note_refused_classes(self) -> None:
        refused: dict[str, int] = {}
        for wanted in self.batch.refused_labels:
            if wanted not in self.classes.names:
                refused[wanted] = refused.get(wanted, 0) + 1
        for name, count in refused.items():
            reason = self.classes.refused.get(name, "not a valid class name")
            self.report.notes.append(
                f"class {name!r} not added ({reason}): {count} item(s) left unlabelled"
            )


def _class_counts(report: ImportReport) -> dict[str, int]:
    """Imported items per class, classes in name order, "unlabelled" last."""
    counts: dict[str, int] = {}
    for imported in report.imported:
        key = imported.label if imported.label is not None else "unlabelled"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (kv[0] == "unlabelled", kv[0])))


def _thumbnail_pass(
    project: Any,
    report: ImportReport,
    progress: Progress | None,
    cancel: Cancel,
) -> None:
    """Thumbnails and perceptual hashes of the new items, then how many of them have a near
    duplicate in the project. Needs a real project (hashes are stored in it)."""
    from medview.io import near_duplicates

    if not hasattr(project, "set_phashes"):
        return
    ids = [it.id for it in report.imported]
    items = project.items(ids=ids)
    failed = near_duplicates.hash_items(project, items, progress, lambda: cancelled(cancel))
    report.notes.extend(f"no thumbnail for {s.path}: {s.reason}" for s in failed)
    groups = near_duplicates.near_duplicate_groups(project)
    new = set(ids)
    report.near_duplicates = sum(1 for g in groups for i in g if i in new)


def _label_conflict(
    project: Any,
    content_hash: str,
    added_now: dict[str, tuple[str, str, str | None]],
    where: str,
    label: str | None,
) -> LabelConflict | None:
    """A conflict when this copy's label differs from a labelled item with the same content
    (already in the project, or added earlier in this import)."""
    if label is None:
        return None
    holders: list[tuple[str, str, str | None]] = []
    if content_hash in added_now:
        holders.append(added_now[content_hash])
    holders += [(it.name, it.path, it.label) for it in project.items_by_hash(content_hash)]
    if any(other == label for _, _, other in holders):
        return None  # the same image under the same label: a plain duplicate
    for name, path, other in holders:
        if other is not None:
            return LabelConflict(where, label, path, other, name)
    return None


def _as_disk_full(exc: BaseException) -> DiskFullError:
    if isinstance(exc, DiskFullError):
        return exc
    where = getattr(exc, "filename", None)
    return DiskFullError(f"{where + ': ' if where else ''}the disk is full ({describe(exc)})")


def _npz_where(candidate: Candidate) -> str:
    meta = candidate.meta
    return f"{meta.get('archive')}[{meta.get('key')}][{meta.get('row')}]"


__all__ = [
    "Duplicate",
    "ImportReport",
    "ImportedItem",
    "LabelConflict",
    "import_sources",
    "parse_label_from",
    "read_labels_csv",
]
