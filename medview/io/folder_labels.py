"""Labels from the folder layout (``--label-from folder`` or ``folder:N``), and the check
that stops an import whose folders look like patients or samples rather than classes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from medview.core.errors import MedviewError
from medview.core.labels import MAX_CLASSES
from medview.io.import_classes import ImportClasses
from medview.io.import_report import ImportReport
from medview.io.scanning import Candidate


def folder_label(
    candidate: Candidate, classes: ImportClasses, nested_roots: set[str] | None = None
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


def level_label(candidate: Candidate, level: int) -> str | None:
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
        labels = [level_label(c, level) for c in candidates]
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


def check_folder_labels(
    candidates: Sequence[Candidate],
    classes: ImportClasses,
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
        labels = [level_label(c, level) for c in files]
    else:
        labels = [folder_label(c, classes, nested) for c in files]
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


def nested_roots(candidates: list[Candidate]) -> set[str]:
    """Scanned roots that hold candidates in subfolders (a class-folder layout)."""
    roots = set()
    for candidate in candidates:
        if candidate.source and Path(candidate.paths[0]).parent != Path(candidate.source):
            roots.add(candidate.source)
    return roots
