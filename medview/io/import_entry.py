"""What a scanned candidate becomes in the project: its label (CSV row, folder or npz value),
group, split, and for an npz row its pixels stored in the project cache."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medview.io import npz
from medview.io.folder_labels import folder_label, level_label
from medview.io.import_classes import ImportClasses
from medview.io.labels_csv import CsvLabels
from medview.io.npz_cache import store_npz_row
from medview.io.scanning import Candidate


def npz_label(candidate: Candidate, classes: ImportClasses) -> str | None:
    index = candidate.label_index
    if index is None or index < 0:
        return None
    names = candidate.meta.get("class_names")
    if names and index < len(names):
        return str(names[index])
    if index < len(classes.names):
        return classes.names[index]
    return str(index)


def group_from_pattern(pattern: re.Pattern[str] | None, candidate: Candidate) -> str | None:
    if pattern is None:
        return None
    match = pattern.search(Path(candidate.paths[0]).as_posix())
    if match is None:
        return None
    value = match.group(1) if pattern.groups else match.group(0)
    return value or None


class ArchiveRows:
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


@dataclass(frozen=True)
class ImportOptions:
    """The choices of one import that decide each item's label, group and split."""

    csv_labels: CsvLabels | None = None
    folder_level: int | None = None  # see folder_labels.parse_label_from
    split: str | None = None
    pattern: re.Pattern[str] | None = None  # --group-pattern


def prepare_entry(
    project: Any,
    candidate: Candidate,
    classes: ImportClasses,
    options: ImportOptions,
    arrays: ArchiveRows,
    nested: set[str],
) -> tuple[dict[str, Any], str | None, Path | None]:
    """The ``Project.add_items`` entry for a candidate, the label it asked for, and the cache
    file this call created for it (removed again if the item is not added)."""
    wanted, group, item_split = _wanted_group_split(candidate, classes, options, nested)
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
        "file_hash": candidate.file_hash,
        "scene": candidate.scene,
        "time_index": candidate.time_index,
    }
    return entry, wanted, created


def _wanted_group_split(
    candidate: Candidate, classes: ImportClasses, options: ImportOptions, nested: set[str]
) -> tuple[str | None, str | None, str | None]:
    """The label the candidate asks for and its group and split: a CSV row first, then the
    folder layout, then an npz row's own label."""
    wanted: str | None = None
    group = group_from_pattern(options.pattern, candidate)
    item_split = options.split or candidate.split
    csv_labels, folder_level = options.csv_labels, options.folder_level
    row = csv_labels.find(candidate) if csv_labels is not None else None
    if row is not None:
        row.used = True
        wanted = row.label
        group = row.group or group
        if options.split is None and row.split in ("train", "val", "test"):
            item_split = row.split
    elif folder_level is not None and candidate.reader != "npz":
        if folder_level:
            wanted = level_label(candidate, folder_level)
        else:
            wanted = folder_label(candidate, classes, nested)
    elif candidate.reader == "npz":
        wanted = npz_label(candidate, classes)
    return wanted, group, item_split
