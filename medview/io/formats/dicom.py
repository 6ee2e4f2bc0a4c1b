"""DICOM: files recognised by suffix or by their preamble, grouped into series once the whole
scan has seen them (a series is one item of many files), read through medview.io.dicom."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import medview.io.dicom as dicom
import medview.io.hashing as hashing
from medview.core.image import Image
from medview.io.formats.base import (
    Candidate,
    FormatReader,
    ScanBatch,
    Skipped,
    Tick,
    kind_from_shape,
)


class DicomReader(FormatReader):
    name = "dicom"
    suffixes = dicom.DICOM_SUFFIXES
    partial_ok = True  # a series with slices deleted since import shows the rest

    def sniff(self, path: Path) -> bool:
        return dicom.looks_like_dicom(path)

    def scan_file(self, path: Path, root: Path, batch: ScanBatch) -> list[Candidate]:
        batch.pending_for(self.name).append((dicom.read_header(path), root))
        return []

    def finish_scan(self, batch: ScanBatch) -> None:
        headers = batch.pending.get(self.name)
        if headers:
            _add_series(headers, batch)

    def read(self, path: Path) -> Image:
        return dicom.read_series([path], name=path)

    def read_files(self, files: Sequence[Path], folder: Path) -> Image:
        """All DICOM files of a folder in one pass; the largest series when several."""
        return dicom.read_series(files, name=folder)

    def read_item(self, item: Any, paths: Sequence[str], tick: Tick | None) -> Image:
        return dicom.read_series(paths, progress=tick, name=Path(paths[0]).parent)

    def item_files_checked(self, paths: Sequence[str]) -> Sequence[str]:
        return paths


def _series_names(plans: list[Any]) -> list[str]:
    """Name a series after its folder; several series in one folder get their number and
    description appended (never patient fields)."""
    per_folder: dict[str, int] = {}
    for plan in plans:
        key = str(Path(plan.first.path).parent)
        per_folder[key] = per_folder.get(key, 0) + 1
    names = []
    for plan in plans:
        first = plan.first
        folder = Path(first.path).parent
        name = Path(first.path).stem if len(plan.headers) == 1 else folder.name
        if per_folder[str(folder)] > 1 and len(plan.headers) > 1:
            extra = " ".join(
                s for s in (str(first.series_number or ""), first.series_description) if s
            )
            name = f"{name} {extra}".strip() if extra else f"{name} {first.series_uid[-8:]}"
        names.append(name)
    return names


def _add_series(headers: list[tuple[Any, Path]], batch: ScanBatch) -> None:
    roots = {h.path: root for h, root in headers}
    plans, skipped = dicom.group_series([h for h, _ in headers])
    batch.result.skipped.extend(Skipped(p, r) for p, r in skipped)
    for plan, name in zip(plans, _series_names(plans), strict=True):
        first = plan.first
        file_hashes = [hashing.hash_file(p) for p in plan.paths]
        meta: dict[str, Any] = {
            "format": "DICOM",
            "modality": first.modality,
            "series_description": first.series_description,
            "files": len(plan.paths),
        }
        if plan.warnings:
            meta["warnings"] = plan.warnings
        batch.result.found.append(
            Candidate(
                name=name,
                kind=kind_from_shape(plan.shape),
                reader="dicom",
                paths=plan.paths,
                shape=plan.shape,
                spacing=plan.spacing,
                content_hash=hashing.hash_series(file_hashes)
                if len(file_hashes) > 1
                else file_hashes[0],
                size_bytes=sum(h.size_bytes for h in plan.headers),
                meta=meta,
                source=str(roots[first.path]),
                patient_key=first.patient_key,
            )
        )
