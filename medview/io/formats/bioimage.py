"""Microscope files through bioio: OME-TIFF, OME-Zarr, Leica LIF and Nikon ND2, each with the
permissively licensed bioio plugin named in ``PLUGINS`` (CZI has its own reader, czi.py: the
bioio-czi plugin is GPL-3).

Every scene (position, series) of a file is one item named "file — scene"; its identity is
the file's hash plus the scene index (schema version 5), so the importer keeps the scenes
apart. Of a time series (T > 1) the first time point is the item, with a note. Physical
pixel sizes (µm) become the spacing in mm; channel names are kept. Import reads metadata
only; ``read_item`` hands back a lazy (dask) image, so showing one slice reads one plane.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import medview.io.hashing as hashing
from medview.core.errors import ReadError
from medview.core.image import UM_PER_MM, Image
from medview.io.common import describe
from medview.io.formats.base import (
    Candidate,
    FormatReader,
    ScanBatch,
    Skipped,
    Tick,
    kind_from_shape,
    part_hash,
)
from medview.io.limits import check_shape

# Suffix -> (the bioio plugin package, its module). bioio's own plugin search is not used:
# it would pick any installed plugin, GPL ones included (bioio-czi), and it is slower.
PLUGINS: dict[str, tuple[str, str]] = {
    ".ome.tif": ("bioio-ome-tiff", "bioio_ome_tiff"),
    ".ome.tiff": ("bioio-ome-tiff", "bioio_ome_tiff"),
    ".zarr": ("bioio-ome-zarr", "bioio_ome_zarr"),
    ".lif": ("bioio-lif", "bioio_lif"),
    ".nd2": ("bioio-nd2", "bioio_nd2"),
}


class BioImageReader(FormatReader):
    name = "bioimage"
    suffixes = tuple(PLUGINS)
    reads_folders = True  # OME-Zarr

    def claims(self, path: Path) -> bool:
        """Its suffixes, except that an OME-TIFF of one image stays on the tifffile path
        (medview.io.raster), which is faster: a 40 x 3 x 512 x 512 uint16 OME-TIFF (63 MB)
        read in 0.19 s there against 0.51 s whole and 0.42 s for one plane through
        bioio-ome-tiff, which parses the OME-XML into objects first (2026-12-08, a busy
        2-core machine). One of several images (scenes) comes here, one item per scene."""
        if not super().claims(path):
            return False
        return not path.name.lower().endswith(TIFF_SUFFIXES) or _tiff_series(path) > 1

    def scan_file(self, path: Path, root: Path, batch: ScanBatch) -> list[Candidate]:
        image = open_bioimage(path)
        file_hash = folder_hash(path) if path.is_dir() else hashing.hash_file(path)
        scenes = list(image.scenes)
        found = []
        for index, scene in enumerate(scenes):
            try:
                image.set_scene(index)
                found.append(_scene_candidate(path, root, image, index, len(scenes), file_hash))
            except Exception as exc:  # one damaged scene: named, the others imported
                reason = exc.reason if isinstance(exc, ReadError) else describe(exc)
                batch.result.skipped.append(Skipped(f"{path} — {scene}", reason))
        return found

    def read(self, path: Path) -> Image:
        return read_scene(path, 0, 0)

    def read_item(self, item: Any, paths: Sequence[str], tick: Tick | None) -> Image:
        return read_scene(Path(paths[0]), item.scene or 0, item.time_index or 0)

    def item_files_checked(self, paths: Sequence[str]) -> Sequence[str]:
        # An OME-Zarr is a folder: the guard checks its metadata files, not the folder.
        path = Path(paths[0])
        if path.is_dir():
            return [str(p) for p in _zarr_metadata(path)] or [str(path / "zarr.json")]
        return paths[:1]


TIFF_SUFFIXES = (".ome.tif", ".ome.tiff")


def _tiff_series(path: Path) -> int:
    """How many images (OME scenes) a TIFF holds, from its header; 0 when unreadable."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return len(tif.series)
    except Exception:  # the raster reader names what is wrong with it
        return 0


def plugin_for(path: Path) -> tuple[str, str]:
    name = path.name.lower().rstrip("/")
    for suffix, plugin in PLUGINS.items():
        if name.endswith(suffix):
            return plugin
    raise ReadError(path, "not a microscope format medview reads through bioio")


def open_bioimage(path: Path) -> Any:
    """A BioImage of the file with its plugin, or a ReadError naming the package to install
    or why the file cannot be opened."""
    package, module = plugin_for(path)
    try:
        from bioio import BioImage

        reader = importlib.import_module(module).Reader
    except ImportError as exc:
        raise ReadError(
            path, f"reading this format needs the {package} package: pip install {package}"
        ) from exc
    try:
        return BioImage(str(path), reader=reader)
    except Exception as exc:  # truncated file, damaged metadata, not this format after all
        raise ReadError(path, f"not a readable {package[6:]} file ({describe(exc)})") from exc


def _scene_candidate(
    path: Path, root: Path, image: Any, index: int, scenes: int, file_hash: str
) -> Candidate:
    dims = image.dims
    shape = (int(dims.Z), int(dims.Y), int(dims.X))
    channels = int(dims.C)
    check_shape(path, (*shape, channels), "scene")
    meta = scene_meta(image, int(dims.T))
    gap = zarr_chunk_gap(path, index) if path.is_dir() else None
    if gap:
        meta["warnings"] = [gap]
    scene_name = str(image.current_scene)
    stem = _stem(path)
    return Candidate(
        name=f"{stem} — {scene_name}" if scenes > 1 else stem,
        kind=kind_from_shape(shape),
        reader="bioimage",
        paths=[str(path)],
        shape=shape + ((channels,) if channels > 1 else ()),
        spacing=spacing_mm(image),
        content_hash=part_hash(file_hash, index, None),
        size_bytes=_size(path),
        meta=meta,
        source=str(root),
        file_hash=file_hash,
        scene=index,
        time_index=0,
    )


def scene_meta(image: Any, time_points: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "format": type(image.reader).__module__.split(".")[0].replace("_", "-"),
        "microscopy": True,
        "scene": str(image.current_scene),
        "channel_names": list(channel_names(image, int(image.dims.C))),
    }
    notes = []
    if time_points > 1:
        notes.append(f"{time_points} time points: showing the first")
    if spacing_mm(image) == (1.0, 1.0, 1.0):
        notes.append("no physical pixel size in the file: spacing is 1 per pixel")
    if notes:
        meta["notes"] = notes
    return meta


def channel_names(image: Any, count: int) -> tuple[str, ...]:
    """The file's channel names, or "channel N" where it names fewer than it holds (an
    OME-Zarr without omero metadata)."""
    try:
        names = [str(n) for n in (image.channel_names or [])]
    except Exception:  # a plugin that cannot parse its channel metadata
        names = []
    if len(names) != count:
        names = [f"channel {i + 1}" for i in range(count)]
    return tuple(names)


def spacing_mm(image: Any) -> tuple[float, float, float]:
    """(z, y, x) spacing in mm from bioio's physical pixel sizes in µm; all 1.0 when the file
    gives none (a missing Z alone, as in a single plane, counts as the Y size)."""
    sizes = image.physical_pixel_sizes
    z, y, x = sizes.Z, sizes.Y, sizes.X
    if not y or not x:
        return (1.0, 1.0, 1.0)
    z = z or y
    return (float(z) / UM_PER_MM, float(y) / UM_PER_MM, float(x) / UM_PER_MM)


def read_scene(path: Path, scene: int, time_index: int) -> Image:
    """One scene at one time point as a lazy (z, y, x[, c]) image: nothing is read until a
    plane is asked for."""
    image = open_bioimage(path)
    if not 0 <= scene < len(image.scenes):
        raise ReadError(path, f"the file has {len(image.scenes)} scene(s), not scene {scene + 1}")
    image.set_scene(scene)
    data = image.get_image_dask_data("ZYXC", T=time_index)
    names = channel_names(image, int(data.shape[-1]))
    if data.shape[-1] == 1:
        data, names = data[..., 0], ()
    meta = scene_meta(image, int(image.dims.T))
    return Image(data, spacing=spacing_mm(image), metadata=meta, channel_names=names)


def folder_hash(folder: Path) -> str:
    """The identity of an OME-Zarr folder without reading its chunks: its metadata files'
    bytes and every file's relative path and size (a 4 GB store hashes in milliseconds)."""
    parts = []
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            file = Path(dirpath, name)
            rel = file.relative_to(folder).as_posix()
            if name in ("zarr.json", ".zattrs", ".zgroup", ".zarray"):
                parts.append(f"{rel}:{hashing.hash_file(file)}")
            else:
                parts.append(f"{rel}:{file.stat().st_size}")
    return hashing.hash_series(parts)


def zarr_chunk_gap(folder: Path, scene: int) -> str | None:
    """A warning when chunks of a scene's full-resolution array are absent. zarr reads an
    absent chunk as zeros without a word, so a store copied in part would look whole; an
    absent chunk may also be one left out because it was empty when written (zarr 3 does
    that by default), hence a warning, not a refusal. Costs one listing of the store."""
    import zarr

    try:
        group = zarr.open_group(str(folder), mode="r")
        attrs: dict[str, Any] = dict(group.attrs)  # OME-NGFF 0.5 nests it under "ome"
        multiscales: Any = attrs.get("ome", attrs).get("multiscales", [])
        array: Any = group[str(multiscales[scene]["datasets"][0]["path"])]
        expected, present = int(array.nchunks), int(array.nchunks_initialized)
    except Exception:  # not the layout this check knows: bioio read it, nothing to add
        return None
    if present >= expected:
        return None
    return (
        f"{expected - present} of {expected} chunks of the full-resolution image are absent "
        "(read as zeros): missing from a partial copy, or empty when written"
    )


def _zarr_metadata(folder: Path) -> list[Path]:
    return [folder / n for n in ("zarr.json", ".zattrs", ".zgroup") if (folder / n).is_file()]


def _size(path: Path) -> int:
    if not path.is_dir():
        return path.stat().st_size
    return sum(Path(d, f).stat().st_size for d, _s, files in os.walk(path) for f in files)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(PLUGINS, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem
