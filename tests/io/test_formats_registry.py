"""The reader interface: a new file format is one FormatReader subclass in the registry, and
scanning, importing, read_image and load_item (its regular-file guard) work for it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import medview.io.formats.registry as registry
from medview.core.errors import ReadError
from medview.core.image import Image
from medview.io.formats.base import Candidate, FormatReader, ScanBatch, file_candidate
from medview.io.importer import import_sources
from medview.io.readers import kind_of, load_item, read_image, scan


class ToyReader(FormatReader):
    """A made-up format: 'TOY' then one byte per pixel of a 4x4 image."""

    name = "toy"
    suffixes = (".toy",)

    def scan_file(self, path: Path, root: Path, batch: ScanBatch) -> list[Candidate]:
        if path.read_bytes()[:3] != b"TOY":
            raise ReadError(path, "no TOY magic")
        return [file_candidate(self, path, root, (1, 4, 4), (1.0, 0.5, 0.5), {"format": "Toy"})]

    def read(self, path: Path) -> Image:
        pixels = np.frombuffer(path.read_bytes()[3:], dtype=np.uint8).reshape(4, 4)
        return Image(pixels.copy(), spacing=(1.0, 0.5, 0.5), metadata={"format": "Toy"})


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> ToyReader:
    reader = ToyReader()
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, reader))
    monkeypatch.setitem(registry.ITEM_READERS, "toy", reader)
    return reader


def _toy_file(path: Path, value: int) -> Path:
    path.write_bytes(b"TOY" + bytes([value]) * 16)
    return path


def test_a_registered_format_is_scanned_imported_and_loaded(
    toy: ToyReader, project: Any, tmp_path: Path
) -> None:
    _toy_file(tmp_path / "a.toy", 7)
    (tmp_path / "b.toy").write_bytes(b"junk")
    assert kind_of(tmp_path / "a.toy") == "toy"
    result = scan(tmp_path)
    assert [c.name for c in result.found] == ["a"]
    assert [(Path(p).name, r) for p, r in result.skipped] == [("b.toy", "no TOY magic")]
    import_sources(project, [tmp_path / "a.toy"])
    (item,) = project.items()
    assert item.reader == "toy" and tuple(item.spacing) == (1.0, 0.5, 0.5)
    image = load_item(project, item)
    assert image.array.max() == 7 and image.metadata["name"] == "a"
    assert read_image(tmp_path / "a.toy").shape == (1, 4, 4)


def test_load_item_guards_a_new_format_against_a_fifo(
    toy: ToyReader, project: Any, tmp_path: Path
) -> None:
    path = _toy_file(tmp_path / "a.toy", 7)
    import_sources(project, [path])
    path.unlink()
    os.mkfifo(path)  # reading it would block for ever: the guard must refuse it first
    with pytest.raises(ReadError, match="not a regular file"):
        load_item(project, project.items()[0])


def test_every_file_goes_to_one_reader_by_name_or_sniff(tmp_path: Path) -> None:
    names = {
        "a.nii.gz": "nifti",
        "a.NII": "nifti",
        "b.tif": "raster",
        "c.png": "raster",
        "d.npz": "npz",
        "e.npy": "npy",
        "f.hdr": "analyze",
        "f.img": "analyze",
        "g.mgz": "mgh",
        "h.dcm": "dicom",
        "j.czi": "czi",
        "k.nd2": "bioimage",
        "l.lif": "bioimage",
        "i.txt": None,
    }
    for name, expected in names.items():
        (tmp_path / name).write_bytes(b"x" * 200)
        assert kind_of(tmp_path / name) == expected, name


def test_item_readers_cover_every_registered_format() -> None:
    assert set(registry.ITEM_READERS) == {
        "dicom",
        "nifti",
        "raster",
        "npz",
        "analyze",
        "mgh",
        "bioimage",
        "czi",
    }
    assert {r.item_name for r in registry.REGISTRY} == set(registry.ITEM_READERS)
