"""PNG/JPG/BMP (Pillow), TIFF (tifffile) and bare .npy arrays: single images and stacks,
one item per file. Both formats' items say reader "raster"; opening one goes back through
the registry by the file's name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import medview.io.npz as npz
import medview.io.raster as raster
from medview.core.image import Image
from medview.io.formats.base import (
    Candidate,
    FormatReader,
    ScanBatch,
    Tick,
    check_readable,
    file_candidate,
)


class RasterReader(FormatReader):
    name = "raster"
    suffixes = raster.SUFFIXES

    def scan_file(self, path: Path, root: Path, batch: ScanBatch) -> list[Candidate]:
        shape, meta = raster.probe_raster(path)
        return [file_candidate(self, path, root, shape, (1.0, 1.0, 1.0), meta)]

    def read(self, path: Path) -> Image:
        return raster.read_raster(path)

    def read_item(self, item: Any, paths: Sequence[str], tick: Tick | None) -> Image:
        path = Path(paths[0])
        check_readable(path)
        return npz.read_npy(path) if path.suffix.lower() == ".npy" else raster.read_raster(path)


class NpyReader(FormatReader):
    name = "npy"
    item_reader = "raster"
    suffixes = (".npy",)

    def scan_file(self, path: Path, root: Path, batch: ScanBatch) -> list[Candidate]:
        # Read whole: a bare array has no cheaper header worth trusting.
        image = npz.read_npy(path)
        shape = tuple(image.array.shape) if image.is_rgb else image.shape
        return [file_candidate(self, path, root, shape, image.spacing, dict(image.metadata))]

    def read(self, path: Path) -> Image:
        return npz.read_npy(path)
