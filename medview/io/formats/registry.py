"""Every file format medview reads, in one place: the order decides which reader claims a
name first, and a file no name claims is offered to each reader's sniff of its first bytes.

A new format is a FormatReader subclass in this package and one line in ``REGISTRY``
(docs/CONTRIBUTING.md, "Where things go").
"""

from __future__ import annotations

from pathlib import Path

from medview.io.formats.base import FormatReader
from medview.io.formats.bioimage import BioImageReader
from medview.io.formats.czi import CziReader
from medview.io.formats.dicom import DicomReader
from medview.io.formats.neuro import AnalyzeReader, MghReader
from medview.io.formats.nifti import NiftiReader
from medview.io.formats.npz import NpzReader
from medview.io.formats.raster import NpyReader, RasterReader

REGISTRY: tuple[FormatReader, ...] = (
    NiftiReader(),
    BioImageReader(),  # before raster: .ome.tif is OME-TIFF (scenes, channels, sizes)
    RasterReader(),
    NpzReader(),
    NpyReader(),
    AnalyzeReader(),
    MghReader(),
    CziReader(),
    DicomReader(),
)

# What an item's ``reader`` column may say, and the reader that opens such items.
ITEM_READERS: dict[str, FormatReader] = {}
for _reader in REGISTRY:
    ITEM_READERS.setdefault(_reader.item_name, _reader)


def reader_for(path: Path) -> FormatReader | None:
    """The reader of a file: by its name, else by sniffing its first bytes; None if none."""
    for reader in REGISTRY:
        if reader.claims(path):
            return reader
    for reader in REGISTRY:
        if reader.sniff(path):
            return reader
    return None


def item_reader(name: str) -> FormatReader | None:
    """The reader that opens items whose ``reader`` column says ``name``."""
    return ITEM_READERS.get(name)


def folder_reader(path: Path) -> FormatReader | None:
    """The reader of a folder that is one image (an OME-Zarr store), or None."""
    for reader in REGISTRY:
        if reader.reads_folders and reader.claims(path):
            return reader
    return None
