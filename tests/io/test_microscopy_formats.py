"""Microscope files through bioio (medview.io.formats.bioimage), written in their real formats
by bioio's writers: every scene one item, physical sizes in mm, channel names kept, nothing
read at import, one plane read to show a slice, bad input and missing plugins named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medview.core.errors import ReadError
from medview.io.importer import import_sources
from medview.io.readers import load_item, read_image, scan

pytest.importorskip("bioio")


def _ome_tiff(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Two scenes: (T=2, C=2, Z=3, 16, 20) and (T=1, C=2, Z=4, 8, 10), 2 x 0.5 x 0.5 µm."""
    from bioio_base.types import PhysicalPixelSizes
    from bioio_ome_tiff.writers import OmeTiffWriter

    rng = np.random.default_rng(0)
    first = rng.integers(0, 4000, (2, 2, 3, 16, 20), dtype=np.uint16)
    second = rng.integers(0, 4000, (1, 2, 4, 8, 10), dtype=np.uint16)
    OmeTiffWriter.save(
        [first, second],
        path,
        dim_order="TCZYX",
        channel_names=[["DAPI", "GFP"], ["DAPI", "GFP"]],
        physical_pixel_sizes=[PhysicalPixelSizes(2.0, 0.5, 0.5)] * 2,
    )
    return first, second


def _ome_zarr(path: Path) -> np.ndarray:
    """A two-level multiscale OME-Zarr (C=2, Z=3, 16, 20), 1 x 0.25 x 0.25 µm."""
    from bioio_ome_zarr.writers import Channel, OMEZarrWriter

    data = np.random.default_rng(1).integers(0, 4000, (2, 3, 16, 20), dtype=np.uint16)
    writer = OMEZarrWriter(
        str(path),
        level_shapes=[(2, 3, 16, 20), (2, 3, 8, 10)],
        dtype=data.dtype,
        axes_names=["c", "z", "y", "x"],
        axes_types=["channel", "space", "space", "space"],
        axes_units=[None, "micrometer", "micrometer", "micrometer"],
        physical_pixel_size=[1.0, 1.0, 0.25, 0.25],
        channels=[Channel(label="DAPI", color="0000FF"), Channel(label="GFP", color="00FF00")],
    )
    writer.write_full_volume(data)
    return data


def test_each_scene_of_an_ome_tiff_is_an_item(project: Any, tmp_path: Path) -> None:
    first, second = _ome_tiff(tmp_path / "plate.ome.tiff")
    result = scan(tmp_path)
    assert result.skipped == []
    found = sorted(result.found, key=lambda c: c.scene)
    assert [c.name for c in found] == ["plate — Image:0", "plate — Image:1"]
    assert [c.shape for c in found] == [(3, 16, 20, 2), (4, 8, 10, 2)]
    assert found[0].spacing == pytest.approx((0.002, 0.0005, 0.0005))  # µm -> mm
    assert found[0].meta["channel_names"] == ["DAPI", "GFP"]
    assert found[0].meta["notes"] == ["2 time points: showing the first"]
    # One file, two items: the importer must not drop the second scene as a duplicate...
    assert len(import_sources(project, [tmp_path]).imported) == 2
    # ...and the same file again is a duplicate of both.
    assert import_sources(project, [tmp_path]).imported == []
    items = sorted(project.items(), key=lambda i: i.scene)
    assert [(i.scene, i.time_index) for i in items] == [(0, 0), (1, 0)]
    image = load_item(project, items[1])
    np.testing.assert_array_equal(image.array, second[0].transpose(1, 2, 3, 0))
    assert image.channel_names == ("DAPI", "GFP") and not image.is_rgb
    lazy = load_item(project, items[0], lazy=True)
    assert lazy.is_lazy
    np.testing.assert_array_equal(lazy.plane(2), first[0, :, 2].transpose(1, 2, 0))


def test_an_ome_zarr_folder_is_one_lazy_item(project: Any, tmp_path: Path) -> None:
    data = _ome_zarr(tmp_path / "stack.zarr")
    result = scan(tmp_path)
    assert result.skipped == []  # its chunk and metadata files are not items of their own
    (found,) = result.found
    assert found.name == "stack" and found.shape == (3, 16, 20, 2)
    assert found.spacing == pytest.approx((0.001, 0.00025, 0.00025))
    import_sources(project, [tmp_path])
    (item,) = project.items()
    assert item.meta["microscopy"] and not (project.folder / "cache" / "npz").exists()
    lazy = load_item(project, item, lazy=True)
    assert lazy.is_lazy and lazy.channel_names == ("DAPI", "GFP")
    np.testing.assert_array_equal(lazy.plane(1), data[:, 1].transpose(1, 2, 0))
    np.testing.assert_array_equal(
        read_image(tmp_path / "stack.zarr").loaded().array[0, 3], data[:, 0, 3].T
    )


def test_a_truncated_microscope_file_is_named_and_the_rest_imported(
    project: Any, tmp_path: Path
) -> None:
    _ome_tiff(tmp_path / "good.ome.tiff")
    whole = (tmp_path / "good.ome.tiff").read_bytes()
    (tmp_path / "cut.ome.tiff").write_bytes(whole[:300])
    report = import_sources(project, [tmp_path])
    assert len(report.imported) == 2
    reasons = {Path(s.path).name: s.reason for s in scan(tmp_path).skipped}
    assert "cut.ome.tiff" in reasons and reasons["cut.ome.tiff"]


def test_a_format_whose_plugin_is_missing_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import medview.io.formats.bioimage as bioimage

    monkeypatch.setitem(bioimage.PLUGINS, ".nd2", ("bioio-nd2", "medview_no_such_plugin"))
    (tmp_path / "cells.nd2").write_bytes(b"\0" * 64)
    ((path, reason),) = scan(tmp_path).skipped
    assert Path(path).name == "cells.nd2"
    assert "pip install bioio-nd2" in reason
    with pytest.raises(ReadError, match="pip install bioio-nd2"):
        read_image(tmp_path / "cells.nd2")


def test_a_single_image_ome_tiff_stays_on_the_tifffile_path(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "one.ome.tif"
    tifffile.imwrite(path, np.zeros((3, 6, 7), np.uint16), ome=True, metadata={"axes": "CYX"})
    (found,) = scan(path).found
    assert found.reader == "raster"


def _czi(path: Path) -> list[np.ndarray]:
    """Two scenes, two channels, a Z-stack of 3, 0.5 x 0.5 x 2 µm, with pylibCZIrw's writer.
    Returns each scene as (z, y, x, c)."""
    from pylibCZIrw import czi as pyczi

    rng = np.random.default_rng(2)
    scenes = [rng.integers(0, 4000, (3, h, w, 2), dtype=np.uint16) for h, w in ((16, 20), (8, 10))]
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for index, (data, location) in enumerate(zip(scenes, ((0, 0), (100, 0)), strict=True)):
            for c in range(2):
                for z in range(3):
                    writer.write(
                        data=data[z, :, :, c],
                        plane={"C": c, "Z": z, "T": 0},
                        scene=index,
                        location=location,
                    )
        writer.write_metadata(
            document_name="plate",
            channel_names={0: "DAPI", 1: "GFP"},
            scale_x=0.5e-6,
            scale_y=0.5e-6,
            scale_z=2e-6,
        )
    return scenes


def test_each_scene_of_a_czi_is_an_item_read_a_plane_at_a_time(
    project: Any, tmp_path: Path
) -> None:
    pytest.importorskip("pylibCZIrw")
    scenes = _czi(tmp_path / "plate.czi")
    result = scan(tmp_path)
    assert result.skipped == []
    found = sorted(result.found, key=lambda c: c.scene)
    assert [c.name for c in found] == ["plate — scene 1", "plate — scene 2"]
    assert [c.shape for c in found] == [(3, 16, 20, 2), (3, 8, 10, 2)]
    assert found[0].spacing == pytest.approx((0.002, 0.0005, 0.0005))
    assert found[0].meta["channel_names"] == ["DAPI", "GFP"]
    assert len(import_sources(project, [tmp_path]).imported) == 2
    item = next(i for i in project.items() if i.scene == 1)
    lazy = load_item(project, item, lazy=True)
    assert lazy.is_lazy and lazy.channel_names == ("DAPI", "GFP")
    np.testing.assert_array_equal(lazy.plane(2), scenes[1][2])
    np.testing.assert_array_equal(load_item(project, item).array, scenes[1])


def test_a_truncated_czi_is_named_and_the_other_files_imported(
    project: Any, tmp_path: Path
) -> None:
    pytest.importorskip("pylibCZIrw")
    _czi(tmp_path / "whole.czi")
    data = (tmp_path / "whole.czi").read_bytes()
    (tmp_path / "cut.czi").write_bytes(data[: len(data) // 2])
    report = import_sources(project, [tmp_path])
    assert len(report.imported) == 2  # the whole file's two scenes
    skipped = {Path(s.path.split(" — ")[0]).name for s in scan(tmp_path).skipped}
    assert skipped == {"cut.czi"}


def test_a_scanned_scene_reads_that_scene_without_a_project(tmp_path: Path) -> None:
    from medview.io.readers import read_scanned

    _, second = _ome_tiff(tmp_path / "plate.ome.tiff")
    found = next(c for c in scan(tmp_path).found if c.scene == 1)
    image = read_scanned(found)  # what `medview apply` predicts on
    np.testing.assert_array_equal(image.array, second[0].transpose(1, 2, 3, 0))


def test_import_hashes_microscope_items_without_reading_them_whole(
    project: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import's thumbnail + pHash pass reads a few planes of a microscope scene, not all
    of it, and a two-channel image (no RGB) hashes like any other."""
    pytest.importorskip("pylibCZIrw")
    from medview.io.formats.czi import CziLayout

    _czi(tmp_path / "plate.czi")
    reads: list[int] = []
    plane = CziLayout.plane
    monkeypatch.setattr(
        CziLayout, "plane", lambda self, s, z, t: reads.append(z) or plane(self, s, z, t)
    )
    report = import_sources(project, [tmp_path])
    assert len(report.imported) == 2 and report.skipped == []
    assert len(project.phashes()) == 2
    assert not any("no thumbnail" in note for note in report.notes)
    # Scan: one check per scene; hashing: 3 planes per scene; thumbnail: the middle one.
    assert len(reads) <= 2 * (1 + 3 + 1)


def test_a_two_channel_plane_hashes_and_thumbnails_as_a_composite() -> None:
    from medview.core.image import Image
    from medview.io.phash import hash_image
    from medview.io.thumbnails import make_thumbnail

    data = np.random.default_rng(3).integers(0, 4000, (1, 40, 40, 2), dtype=np.uint16)
    image = Image(data, channel_names=("DAPI", "GFP"))
    assert len(hash_image(image)) == 16
    assert make_thumbnail(image, 32).shape == (32, 32, 3)


def test_an_ome_zarr_with_a_missing_chunk_is_named(project: Any, tmp_path: Path) -> None:
    _ome_zarr(tmp_path / "stack.zarr")
    chunk = next(
        p
        for p in (tmp_path / "stack.zarr" / "0").rglob("*")
        if p.is_file() and p.name != "zarr.json"
    )
    chunk.unlink()  # a partial copy
    import_sources(project, [tmp_path])
    (item,) = project.items()  # still imported: the other chunks are there
    (warning,) = item.meta["warnings"]
    assert (
        warning.startswith("1 of ") and "chunks of the full-resolution image are absent" in warning
    )
    assert project.items()[0].meta.get("microscopy")
