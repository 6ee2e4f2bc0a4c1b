"""NIfTI-1/2 single files (.nii, .nii.gz) through medview.io.nifti (nibabel, keeping the
affine)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import medview.io.nifti as nifti
from medview.core.image import Image
from medview.io.formats.base import Candidate, FormatReader, ScanBatch, Tick, file_candidate


class NiftiReader(FormatReader):
    name = "nifti"
    suffixes = nifti.SUFFIXES

    def scan_file(self, path: Path, root: Path, batch: ScanBatch) -> list[Candidate]:
        shape, spacing, meta = nifti.probe_nifti(path)
        return [file_candidate(self, path, root, shape, spacing, meta)]

    def read(self, path: Path) -> Image:
        return nifti.read_nifti(path)

    def read_item(self, item: Any, paths: Sequence[str], tick: Tick | None) -> Image:
        return nifti.read_nifti(paths[0])
