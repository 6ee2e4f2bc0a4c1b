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
import csv
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from medview.core.errors import DiskFullError, MedviewError, ReadError, is_disk_full
from medview.core.labels import MAX_CLASSES, validate_class_name
from medview.io import npz
from medview.io.common import describe
from medview.io.readers import (
    Candidate,
    Skipped,
    _cancelled,
    scan,
    store_npz_row,
)

Progress = Callable[[int, int, str], None]

_PATH_COLUMNS = ("path", "file", "filepath", "file_path", "filename")
_NAME_COLUMNS = ("name", "item", "id", "image")
_LABEL_COLUMNS = ("label", "class", "classname", "class_name", "diagnosis")
_GROUP_COLUMNS = ("group", "patient", "patient_id", "subject", "animal", "group_id")
_SPLIT_COLUMNS = ("split", "set", "fold_set")


@dataclass
class ImportedItem:
    id: int
    name: str
    label: str | None
    path: str


class Duplicate(NamedTuple):
    path: str
    existing: str  # name of the item that already holds this content


class LabelConflict(NamedTuple):
    """Identical content filed under two different labels. Both items are kept, so the user
    can see them side by side and decide (browser: "Label conflicts")."""

    path: str
    label: str
    existing_path: str
    existing_label: str
    existing: str  # name of the item already holding this content


@dataclass
class ImportReport:
    imported: list[ImportedItem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    label_conflicts: list[LabelConflict] = field(default_factory=list)
    near_duplicates: int = 0  # imported items within a few bits of another item's pHash
    added_classes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # per class; "unlabelled" for none
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False

    def summary_lines(self) -> list[str]:
        """What ``medview import`` prints: imported, skipped with reasons, count per class."""
        lines = [f"imported {len(self.imported)} item(s)"]
        if self.duplicates:
            lines.append(
                f"duplicates (already in the project, not imported): {len(self.duplicates)}"
            )
            lines.extend(
                f"  {d.path}: same content as item {d.existing!r}" for d in self.duplicates
            )
        if self.label_conflicts:
            lines.append(
                f"label conflicts (same content, different label; both kept): "
                f"{len(self.label_conflicts)}"
            )
            lines.extend(
                f"  {c.path} ({c.label}) = {c.existing_path} ({c.existing_label})"
                for c in self.label_conflicts
            )
        if self.near_duplicates:
            lines.append(
                f"near duplicates (resized/re-encoded copies?): {self.near_duplicates} item(s); "
                "see the browser's 'Near duplicates' filter"
            )
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s):")
            lines.extend(f"  {s.path}: {s.reason}" for s in self.skipped)
        if self.added_classes:
            lines.append(f"added classes: {', '.join(self.added_classes)}")
        if self.counts:
            parts = [f"{name}: {count}" for name, count in self.counts.items()]
            lines.append("per class: " + ", ".join(parts))
        lines.extend(f"note: {n}" for n in self.notes)
        if self.cancelled:
            lines.append("cancelled: the items above were imported, the rest was not")
        return lines


# ================================================================ CSV labels
@dataclass
class _CsvRow:
    label: str | None
    group: str | None
    split: str | None
    used: bool = False


@dataclass
class _CsvLabels:
    by_path: dict[str, _CsvRow]
    by_name: dict[str, _CsvRow]
    rows: list[_CsvRow]

    def find(self, candidate: Candidate) -> _CsvRow | None:
        keys = []
        for path in candidate.paths:
            keys.append(_norm(path))
        if candidate.reader == "dicom" and candidate.paths:
            keys.append(_norm(str(Path(candidate.paths[0]).parent)))
        for key in keys:
            if key in self.by_path:
                return self.by_path[key]
        names = [candidate.name]
        if candidate.reader != "npz":
            for path in candidate.paths[:1]:
                names += [Path(path).name, Path(path).stem]
                if candidate.reader == "dicom":
                    names.append(Path(path).parent.name)
        for name in names:
            row = self.by_name.get(name.lower())
            if row is not None:
                return row
        return None


def _norm(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _pick(columns: dict[str, str], options: Sequence[str]) -> str | None:
    return next((columns[o] for o in options if o in columns), None)


def read_labels_csv(path: str | Path) -> _CsvLabels:
    """Parse a labels CSV: columns ``path`` or ``name``, ``label``, optional ``group``/``split``.
    Relative paths are relative to the CSV's folder. Raises ReadError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReadError(path, f"cannot read the labels CSV ({describe(exc)})") from exc
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    if not reader.fieldnames:
        raise ReadError(path, "the labels CSV is empty")
    columns = {str(c).strip().lower(): str(c) for c in reader.fieldnames if c}
    path_col, name_col = _pick(columns, _PATH_COLUMNS), _pick(columns, _NAME_COLUMNS)
    label_col = _pick(columns, _LABEL_COLUMNS)
    group_col, split_col = _pick(columns, _GROUP_COLUMNS), _pick(columns, _SPLIT_COLUMNS)
    if label_col is None or (path_col is None and name_col is None):
        raise ReadError(
            path,
            "the labels CSV needs a 'label' column and a 'path' or 'name' column "
            f"(found: {', '.join(reader.fieldnames)})",
        )
    labels = _CsvLabels({}, {}, [])
    try:
        for record in reader:
            label = (record.get(label_col) or "").strip() or None
            group = (record.get(group_col) or "").strip() or None if group_col else None
            split = (record.get(split_col) or "").strip().lower() or None if split_col else None
            row = _CsvRow(label, group, split)
            labels.rows.append(row)
            if path_col and (value := (record.get(path_col) or "").strip()):
                full = value if os.path.isabs(value) else str(path.parent / value)
                labels.by_path[_norm(full)] = row
                # A bare file name in the path column is also matched by name.
                if os.sep not in value and "/" not in value:
                    labels.by_name.setdefault(value.lower(), row)
            if name_col and (value := (record.get(name_col) or "").strip()):
                labels.by_name[value.lower()] = row
    except csv.Error as exc:
        raise ReadError(path, f"malformed CSV ({exc})") from exc
    return labels


# ================================================================ the import
class _Classes:
    """The project's classes, matched case-insensitively, added on demand (at most 9)."""

    def __init__(self, project: Any, report: ImportReport) -> None:
        self.project = project
        self.report = report
        self.names = list(project.class_names())
        self.refused: dict[str, str] = {}

    def resolve(self, name: str | None) -> str | None:
        if name is None:
            return None
        name = name.strip()
        for existing in self.names:
            if existing.lower() == name.lower():
                return existing
        if name in self.refused:
            return None
        if len(self.names) >= MAX_CLASSES:
            self.refused[name] = f"a project holds at most {MAX_CLASSES} classes"
            return None
        try:
            validate_class_name(name)
            self.project.add_class(name)
        except DiskFullError:
            raise
        except MedviewError as exc:
            self.refused[name] = str(exc)
            return None
        self.names.append(name)
        self.report.added_classes.append(name)
        return name


def _folder_label(
    candidate: Candidate, classes: _Classes, nested_roots: set[str] | None = None
) -> str | None:
    path = Path(candidate.paths[0])
    root = Path(candidate.source) if candidate.source else path.parent
    folder = path.parent
    try:
        relative = folder.relative_to(root)
    except ValueError:
        return folder.name or None
    known = {n.lower() for n in classes.names}
    # Nearest enclosing folder (up to and including the root) that is a known class.
    chain = [folder, *folder.parents]
    for ancestor in chain:
        if ancestor.name.lower() in known:
            return ancestor.name
        if ancestor == root:
            break
    if relative.parts:
        return relative.parts[0]
    if nested_roots and str(root) in nested_roots:
        return None  # a loose file beside class folders: its folder is not a class
    return root.name or None


def parse_label_from(label_from: str | None) -> int | None:
    """None (no folder labels), 0 (``folder``: the nearest class folder) or N >= 1
    (``folder:N``: N levels up from each file). Raises MedviewError for anything else."""
    if label_from is None:
        return None
    text = str(label_from).strip().lower()
    if text == "folder":
        return 0
    head, _, level = text.partition(":")
    if head == "folder" and level.isdigit() and 1 <= int(level) <= 32:
        return int(level)
    raise MedviewError(
        f"--label-from must be 'folder' or 'folder:N' (N = 1 for each file's own folder, "
        f"2 for its parent, ...), not {label_from!r}"
    )


def _level_label(candidate: Candidate, level: int) -> str | None:
    """The name of the folder ``level`` steps up from the candidate's (first) file, if that
    folder is the scanned root or inside it."""
    path = Path(candidate.paths[0])
    parents = path.parents
    if level > len(parents):
        return None
    folder = parents[level - 1]
    root = Path(candidate.source) if candidate.source else path.parent
    if folder != root and root not in folder.parents:
        return None
    return folder.name or None


# A folder name with a run of 2+ digits (patient001, P12, sub-01, 2024-03-01, a DICOM UID)
# or a long hex token names a patient, sample or date, not a class.
_IDENTIFIER = re.compile(r"\d{2,}|^[0-9a-f]{8,}$|^[0-9a-f-]{16,}$", re.IGNORECASE)
_MIN_SUSPECT = 4  # fewer new classes than this are never suspicious (benign/malignant/normal)


def _identifier_like(name: str) -> bool:
    return bool(_IDENTIFIER.search(name))


def _suspect_classes(labels: Sequence[str | None], known: set[str]) -> str | None:
    """Why folder labels look like identifiers rather than classes, or None."""
    counts: dict[str, int] = {}
    for label in labels:
        if label is not None and label.lower() not in known:
            counts[label] = counts.get(label, 0) + 1
    if len(counts) < _MIN_SUSPECT:
        return None
    names = sorted(counts)
    examples = ", ".join(repr(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")
    singles = sum(1 for n in counts.values() if n == 1)
    ids = sum(1 for n in names if _identifier_like(n))
    if singles >= 0.75 * len(names):
        return f"{len(names)} new classes with one item each ({examples})"
    if ids >= 0.5 * len(names):
        return f"{len(names)} new classes named like identifiers ({examples})"
    return None


def _level_offer(candidates: Sequence[Candidate], known: set[str]) -> str:
    """Which ``folder:N`` levels would give a plausible set of classes, with their counts."""
    offers = []
    for level in range(1, 5):
        labels = [_level_label(c, level) for c in candidates]
        counts: dict[str, int] = {}
        for label in labels:
            if label is not None:
                counts[label] = counts.get(label, 0) + 1
        if not 2 <= len(counts) <= MAX_CLASSES or _suspect_classes(labels, known):
            continue
        if any(_identifier_like(n) for n in counts):
            continue
        parts = ", ".join(f"{n} ({k})" for n, k in sorted(counts.items()))
        offers.append(f"--label-from folder:{level} gives {parts}")
    levels = "1 = each file's own folder, 2 = its parent, ..."
    if not offers:
        return f"choose the level with --label-from folder:N ({levels}) or use --labels-csv"
    return "; ".join(offers) + f" ({levels})"


def _check_folder_labels(
    candidates: Sequence[Candidate],
    classes: _Classes,
    level: int,
    nested: set[str],
    report: ImportReport,
) -> None:
    """Before anything is added: folder labels that look like patient or sample folders
    (``root/patient/class/file`` read at the top level) stop the import with the levels that
    would work; with an explicit ``folder:N`` the user chose, so it is a note."""
    files = [c for c in candidates if c.reader != "npz"]
    if not files:
        return
    if level:
        labels = [_level_label(c, level) for c in files]
    else:
        labels = [_folder_label(c, classes, nested) for c in files]
    known = {n.lower() for n in classes.names}
    why = _suspect_classes(labels, known)
    if why is None:
        return
    where = sorted({c.source for c in files if c.source})
    place = f" under {where[0]}" if len(where) == 1 else ""
    offer = _level_offer(files, known)
    if level:
        report.notes.append(
            f"--label-from folder:{level}{place}: the folders look like patients or samples, "
            f"not classes: {why}. {offer}"
        )
        return
    raise MedviewError(
        f"--label-from folder{place}: the folders look like patients or samples, not "
        f"classes: {why}. Nothing was imported. {offer}"
    )


def _nested_roots(candidates: list[Candidate]) -> set[str]:
    """Scanned roots that hold candidates in subfolders (a class-folder layout)."""
    roots = set()
    for candidate in candidates:
        if candidate.source and Path(candidate.paths[0]).parent != Path(candidate.source):
            roots.add(candidate.source)
    return roots


def _npz_label(candidate: Candidate, classes: _Classes) -> str | None:
    index = candidate.label_index
    if index is None or index < 0:
        return None
    names = candidate.meta.get("class_names")
    if names and index < len(names):
        return str(names[index])
    if index < len(classes.names):
        return classes.names[index]
    return str(index)


def _group_from_pattern(pattern: re.Pattern[str] | None, candidate: Candidate) -> str | None:
    if pattern is None:
        return None
    match = pattern.search(Path(candidate.paths[0]).as_posix())
    if match is None:
        return None
    value = match.group(1) if pattern.groups else match.group(0)
    return value or None


def import_sources(
    project: Any,
    sources: Sequence[str | Path] | str | Path,
    *,
    label_from: str | None = None,
    labels_csv: str | Path | None = None,
    split: str | None = None,
    group_pattern: str | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | threading.Event | None = None,
    phash: bool = True,
) -> ImportReport:
    """Import images from files and folders into ``project``. See the module docstring.
    ``phash``: decode each new item once for its thumbnail and perceptual hash."""
    from medview.core.project import SPLITS

    if isinstance(sources, str | Path):
        sources = [sources]
    folder_level = parse_label_from(label_from)
    if split is not None and split not in SPLITS:
        raise MedviewError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    try:
        pattern = re.compile(group_pattern) if group_pattern else None
    except re.error as exc:
        raise MedviewError(f"invalid --group-pattern {group_pattern!r}: {exc}") from exc
    csv_labels = read_labels_csv(labels_csv) if labels_csv else None

    report = ImportReport()
    found = scan(sources, progress=progress, cancel=cancel)
    report.skipped.extend(found.skipped)
    if found.cancelled:
        report.cancelled = True
        return report

    classes = _Classes(project, report)
    nested = _nested_roots(found.found)
    if folder_level is not None:
        unlabelled = [c for c in found.found if csv_labels is None or not csv_labels.find(c)]
        _check_folder_labels(unlabelled, classes, folder_level, nested, report)
    known = project.known_hashes()
    added_now: dict[str, tuple[str, str, str | None]] = {}  # hash -> (name, where, label)
    arrays = _ArchiveRows()
    batch = _Batch(project, report)
    total = len(found.found)
    try:
        for index, candidate in enumerate(found.found):
            if _cancelled(cancel):
                report.cancelled = True
                break
            if progress:
                progress(index, total, f"adding {candidate.name}")
            where = candidate.paths[0] if candidate.reader != "npz" else _npz_where(candidate)
            duplicate = candidate.content_hash in known or candidate.content_hash in added_now
            if csv_labels is not None and duplicate:
                row = csv_labels.find(candidate)  # a duplicate's row is not "unmatched"
                if row is not None:
                    row.used = True
            try:
                entry, wanted, created = _prepare(
                    project,
                    candidate,
                    classes,
                    csv_labels,
                    folder_level,
                    split,
                    pattern,
                    arrays,
                    nested,
                )
            except Exception as exc:
                if is_disk_full(exc):
                    raise _as_disk_full(exc) from exc
                if isinstance(exc, MedviewError):
                    reason = exc.reason if isinstance(exc, ReadError) else str(exc)
                    report.skipped.append(Skipped(where, reason))
                else:  # never let one item stop the others
                    report.skipped.append(Skipped(where, f"cannot import ({describe(exc)})"))
                continue
            if duplicate:
                conflict = _label_conflict(
                    project, candidate.content_hash, added_now, where, entry.get("label")
                )
                if conflict is None:
                    existing = added_now.get(candidate.content_hash)
                    if existing is None:
                        known_items = project.items_by_hash(candidate.content_hash)
                        name = known_items[0].name if known_items else "?"
                    else:
                        name = existing[0]
                    report.duplicates.append(Duplicate(where, name))
                    _Batch.remove_created([(None, None, None, created)])
                    continue
                # A copy filed under another class: keep it, so the user sees both and decides.
                report.label_conflicts.append(conflict)
            first = (candidate.name, where, entry.get("label"))
            added_now.setdefault(candidate.content_hash, first)
            batch.add(entry, where, wanted, created)
        batch.flush()
    except DiskFullError as exc:
        # Every later write would fail the same way: stop at the first, keep what fits, and
        # leave no file behind that no item refers to.
        with contextlib.suppress(DiskFullError):
            batch.flush()
        raise DiskFullError(
            f"{exc}; import stopped, imported {len(report.imported)} item(s) before that. "
            "Free some space and import again (items already imported are skipped)"
        ) from exc
    if phash and report.imported and not report.cancelled:
        _thumbnail_pass(project, report, progress, cancel)
    if progress:
        progress(total, total, "done")

    unlabelled_refused: dict[str, int] = {}
    for wanted in batch.refused_labels:
        if wanted not in classes.names:
            unlabelled_refused[wanted] = unlabelled_refused.get(wanted, 0) + 1
    for name, count in unlabelled_refused.items():
        reason = classes.refused.get(name, "not a valid class name")
        report.notes.append(f"class {name!r} not added ({reason}): {count} item(s) left unlabelled")
    if csv_labels is not None:
        unused = sum(1 for r in csv_labels.rows if not r.used)
        if unused:
            report.notes.append(f"{unused} row(s) of {labels_csv} matched no imported file")
    counts: dict[str, int] = {}
    for imported in report.imported:
        key = imported.label if imported.label is not None else "unlabelled"
        counts[key] = counts.get(key, 0) + 1
    report.counts = dict(sorted(counts.items(), key=lambda kv: (kv[0] == "unlabelled", kv[0])))
    return report


def _thumbnail_pass(
    project: Any,
    report: ImportReport,
    progress: Progress | None,
    cancel: Callable[[], bool] | threading.Event | None,
) -> None:
    """Thumbnails and perceptual hashes of the new items, then how many of them have a near
    duplicate in the project. Needs a real project (hashes are stored in it)."""
    from medview.io import near_duplicates

    if not hasattr(project, "set_phashes"):
        return
    ids = [it.id for it in report.imported]
    items = project.items(ids=ids)
    failed = near_duplicates.hash_items(project, items, progress, lambda: _cancelled(cancel))
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


class _Batch:
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
        try:
            ids = self.project.add_items([entry for entry, *_ in pending])
        except DiskFullError:
            self.remove_created(pending)
            raise
        except Exception:
            # One bad entry fails the whole transaction: add them one by one to find it.
            ids = []
            for k, (entry, where, _, created) in enumerate(pending):
                try:
                    ids.extend(self.project.add_items([entry]))
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

    def _record(self, pending: Sequence[tuple[Any, str, str | None, Any]], ids: list[int]) -> None:
        for item_id, (entry, where, wanted, _) in zip(ids, pending, strict=True):
            if item_id < 0:
                continue
            label = entry.get("label")
            if label is None and wanted:
                self.refused_labels.append(wanted)
            self.report.imported.append(ImportedItem(item_id, entry["name"], label, where))


class _ArchiveRows:
    """The image array of the npz part being imported (one at a time, so memory stays at
    one array however many archives are imported)."""

    def __init__(self) -> None:
        self.key: tuple[str, str] | None = None
        self.array: np.ndarray | None = None

    def row(self, archive: str, key: str, index: int) -> np.ndarray:
        if self.key != (archive, key):
            self.array = npz.load_array(archive, key)
            self.key = (archive, key)
        assert self.array is not None
        return np.ascontiguousarray(self.array[index])


def _prepare(
    project: Any,
    candidate: Candidate,
    classes: _Classes,
    csv_labels: _CsvLabels | None,
    folder_level: int | None,
    split: str | None,
    pattern: re.Pattern[str] | None,
    arrays: _ArchiveRows,
    nested: set[str],
) -> tuple[dict[str, Any], str | None, Path | None]:
    """The ``Project.add_items`` entry for a candidate, the label it asked for, and the cache
    file this call created for it (removed again if the item is not added)."""
    wanted: str | None = None
    group = _group_from_pattern(pattern, candidate)
    item_split = split or candidate.split
    row = csv_labels.find(candidate) if csv_labels is not None else None
    if row is not None:
        row.used = True
        wanted = row.label
        group = row.group or group
        if split is None and row.split in ("train", "val", "test"):
            item_split = row.split
    elif folder_level is not None and candidate.reader != "npz":
        if folder_level:
            wanted = _level_label(candidate, folder_level)
        else:
            wanted = _folder_label(candidate, classes, nested)
    elif candidate.reader == "npz":
        wanted = _npz_label(candidate, classes)
    label = classes.resolve(wanted)
    if group is None and candidate.patient_key and hasattr(project, "pseudonymise"):
        group = project.pseudonymise(candidate.patient_key)

    paths = list(candidate.paths)
    meta = dict(candidate.meta)
    created: Path | None = None
    if candidate.reader == "npz":
        data = arrays.row(meta["archive"], meta["key"], int(meta["row"]))
        path, is_new = store_npz_row(project, candidate.content_hash, data)
        paths = [str(path)]
        created = path if is_new else None
    entry = {
        "name": candidate.name,
        "kind": candidate.kind,
        "reader": candidate.reader,
        "paths": paths,
        "shape": candidate.shape,
        "spacing": candidate.spacing,
        "content_hash": candidate.content_hash,
        "size_bytes": candidate.size_bytes,
        "group": group,
        "split": item_split,
        "label": label,
        "meta": meta,
    }
    return entry, wanted, created
