"""MedMNIST-style .npz archives: one item per row. A row has no file of its own, so the
importer stores its pixels in the project (medview.io.npz_cache) and an item loads from there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import medview.io.hashing as hashing
import medview.io.npz as npz
from medview.core.errors import ReadError
from medview.core.image import Image
from medview.io.formats.base import Candidate, FormatReader, ScanBatch, Tick, kind_from_shape
from medview.io.npz_cache import load_npz_item


class NpzReader(FormatReader):
    name = "npz"
    suffixes = (".npz",)

    def scan_file(self, path: Path, root: Path, batch: ScanBatch) -> list[Candidate]:
        parts, names = npz.list_parts(path)
        found: list[Candidate] = []
        for part in parts:
            images = npz.load_array(path, part.key)
            labels = None
            multi_label = False
            if part.label_key:
                labels = npz.label_rows(npz.load_array(path, part.label_key), path, part.label_key)
                multi_label = labels is None
            prefix = f"{path.stem}_{part.split}" if part.split else path.stem
            for row in range(images.shape[0]):
                label = int(labels[row]) if labels is not None else None
                found.append(
                    _row_candidate(path, root, images[row], row, prefix, part, names, label)
                )
                if multi_label:
                    found[-1].meta["notes"] = ["multi-label row: imported without a label"]
        return found

    def read(self, path: Path) -> Image:
        raise ReadError(path, "an .npz archive holds many images: import it into a project")

    def load_item(self, project: Any, item: Any, progress: Tick | None) -> Image:
        return load_npz_item(project, item)


def _row_candidate(
    path: Path,
    root: Path,
    row_data: np.ndarray,
    row: int,
    prefix: str,
    part: Any,
    names: list[str] | None,
    label: int | None,
) -> Candidate:
    data = np.ascontiguousarray(row_data)
    shape = npz.row_image(data).shape
    if len(shape) == 4 and shape[-1] == 1:
        shape = shape[:3]
    meta: dict[str, Any] = {"archive": str(path), "key": part.key, "row": row}
    if part.split:
        meta["split"] = part.split
    if names:
        meta["class_names"] = names
    return Candidate(
        name=f"{prefix}_{row:05d}",
        kind=kind_from_shape(shape),
        reader="npz",
        paths=[str(path)],
        shape=tuple(int(s) for s in shape),
        spacing=(1.0, 1.0, 1.0),
        content_hash=hashing.hash_array(data),
        size_bytes=int(data.nbytes),
        meta=meta,
        source=str(root),
        label_index=label,
        split=part.split,
    )
