"""Re-link items whose files moved: find their content (by hash) under a new folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medview.io.readers import Cancel, Progress, scan


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
    missing = project.missing_items()
    if not missing:
        return {}
    wanted: dict[str, list[Any]] = {}
    for item in missing:
        if item.reader != "npz":  # npz rows live in the project's cache, not in the folder
            wanted.setdefault(item.content_hash, []).append(item)
    if not wanted:
        return {}
    result = scan([folder], progress=progress, cancel=cancel)
    relinked: dict[int, list[str]] = {}
    for candidate in result.found:
        for item in wanted.pop(candidate.content_hash, []):
            project.update_item_paths(item.id, candidate.paths)
            relinked[item.id] = list(candidate.paths)
    return relinked
