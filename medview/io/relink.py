"""Re-link items whose files moved: find their content (by hash) under a new folder.

An item is re-linked only when the same content is found (its file's hash, or for a DICOM
series the hash of all its slices). For the others, :func:`relink_report` says why nothing
matched: no file of that name there, some slices missing, the content changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medview.core.errors import MedviewError
from medview.io.scanning import Cancel, Candidate, Progress, Skipped, scan

# Kernel views of processes and devices: their paths are not files that stay put.
PSEUDO_FILESYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))


@dataclass
class RelinkReport:
    relinked: dict[int, list[str]] = field(default_factory=dict)  # item id -> new paths
    unmatched: dict[int, str] = field(default_factory=dict)  # item id -> why not
    names: dict[int, str] = field(default_factory=dict)  # item id -> item name

    def lines(self) -> list[str]:
        """What ``medview relink`` prints after its count: one line per item not found."""
        return [
            f"  {self.names.get(item_id, item_id)}: {why}"
            for item_id, why in sorted(self.unmatched.items())
        ]


def relink(
    project: Any,
    folder: str | Path,
    progress: Progress | None = None,
    cancel: Cancel = None,
) -> dict[int, list[str]]:
    """Point every missing item whose content is found under ``folder`` at its new files.
    Returns {item id: new paths} for the items re-linked; the others stay missing.

    The folder is scanned exactly as an import would, so the hash of a file or a DICOM series
    is computed the same way it was when the item was imported.
    """
    return relink_report(project, folder, progress, cancel).relinked


def relink_report(
    project: Any,
    folder: str | Path,
    progress: Progress | None = None,
    cancel: Cancel = None,
) -> RelinkReport:
    """:func:`relink`, also saying for each missing item that was not re-linked why."""
    folder = real_source(folder)
    report = RelinkReport()
    missing = [item for item in project.missing_items() if item.reader != "npz"]
    if not missing:  # npz rows live in the project's cache, not in the folder
        return report
    wanted: dict[str, list[Any]] = {}
    for item in missing:
        wanted.setdefault(item.content_hash, []).append(item)
        report.names[item.id] = item.name
    result = scan([folder], progress=progress, cancel=cancel)
    for candidate in result.found:
        paths = [os.path.realpath(path) for path in candidate.paths]
        if any(_pseudo(Path(path)) for path in paths):
            continue  # a link in the folder into /proc or /dev: never stored as an item's file
        for item in wanted.pop(candidate.content_hash, []):
            project.update_item_paths(item.id, paths)
            report.relinked[item.id] = paths
    if result.cancelled:
        for items in wanted.values():
            for item in items:
                report.unmatched[item.id] = "the search was cancelled"
        return report
    index = _NameIndex(result.found, result.skipped)
    for items in wanted.values():
        for item in items:
            report.unmatched[item.id] = index.why_not(item, folder)
    return report


def real_source(folder: str | Path) -> Path:
    """``folder`` with its links resolved; MedviewError for a pseudo-filesystem. ``relink P
    /proc/self`` stored items under /proc/self/cwd/..., paths that change with every process
    (issue 23): item paths are real paths on a real disk."""
    real = Path(os.path.realpath(folder))
    if _pseudo(real):
        raise MedviewError(
            f"{folder}: {real} is a system pseudo-filesystem, not a folder of images"
        )
    return real


def _pseudo(path: Path) -> bool:
    return any(path == root or root in path.parents for root in PSEUDO_FILESYSTEMS)


class _NameIndex:
    """The scanned files by name, to explain a miss: same names, different content."""

    def __init__(self, found: Iterable[Candidate], skipped: Iterable[Skipped]) -> None:
        self.by_name: dict[str, list[Candidate]] = {}
        for candidate in found:
            if candidate.reader == "npz":
                continue
            for path in candidate.paths:
                self.by_name.setdefault(Path(path).name, []).append(candidate)
        self.skipped = {Path(s.path).name: s.reason for s in skipped}

    def why_not(self, item: Any, folder: str | Path) -> str:
        names = [Path(p).name for p in item.paths]
        wanted = set(names)
        overlap: dict[int, tuple[Candidate, int]] = {}
        for name in wanted:
            for candidate in self.by_name.get(name, []):
                seen = overlap.get(id(candidate), (candidate, 0))
                overlap[id(candidate)] = (candidate, seen[1] + 1)
        if not overlap:
            bad = [f"{n} ({self.skipped[n]})" for n in names if n in self.skipped]
            if bad:
                return "found but not readable: " + _first(bad, 3)
            return f"no file named {_first(names, 2)} under {folder}"
        candidate, _count = max(overlap.values(), key=lambda pair: pair[1])
        there = {Path(p).name for p in candidate.paths}
        absent = [n for n in names if n not in there]
        extra = sorted(there - wanted)
        if len(names) == 1 and not extra:
            return (
                f"{names[0]} is there ({candidate.paths[0]}) but its content differs "
                "(hash differs: the file changed since import)"
            )
        parts = []
        if absent:
            why = [f"{n}: {self.skipped[n]}" if n in self.skipped else n for n in absent]
            parts.append(f"{len(absent)} of {len(names)} slices missing ({_first(why, 3)})")
        if extra:
            parts.append(f"{len(extra)} slice(s) not in the imported series ({_first(extra, 3)})")
        if not parts:
            parts.append("the same files are there, but their content differs (hash differs)")
        where = str(Path(candidate.paths[0]).parent)
        return f"{'; '.join(parts)} in {where}"


def _first(names: list[str], count: int) -> str:
    shown = ", ".join(names[:count])
    return shown + (f", ... ({len(names) - count} more)" if len(names) > count else "")
