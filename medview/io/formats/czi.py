"""Zeiss CZI through pylibCZIrw (Zeiss's own libCZI, LGPL-3, used as an unmodified library;
bioio-czi and aicspylibczi are GPL-3 and cannot ship in medview's MIT bundle).

As for the bioio formats (medview.io.formats.bioimage): each scene (position) is one item
"file — scene N", identified by the file's hash plus the scene index; the first time point
with a note when T > 1; pixel sizes (metres in the file) become mm; channel names are kept.
The scan reads each scene's first plane, so a truncated file or damaged scene is named at
import while the others come in; an item reads one z plane (all channels) at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

import medview.io.hashing as hashing
from medview.core.errors import ReadError
from medview.core.image import Image, PlaneArray
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

_DTYPES = {"Gray8": np.uint8, "Gray16": np.uint16, "Gray32Float": np.float32}


class CziReader(FormatReader):
    name = "czi"
    suffixes = (".czi",)

    def scan_file(self, path: Path, root: Path, batch: ScanBatch) -> list[Candidate]:
        layout = CziLayout(path)
        file_hash = hashing.hash_file(path)
        found = []
        for scene in layout.scenes:
            try:
                layout.plane(scene, 0, 0)  # a damaged scene is named now, not when shown
                found.append(_candidate(path, root, layout, scene, file_hash))
            except Exception as exc:
                reason = exc.reason if isinstance(exc, ReadError) else describe(exc)
                batch.result.skipped.append(Skipped(f"{path} — scene {scene + 1}", reason))
        return found

    def read(self, path: Path) -> Image:
        layout = CziLayout(path)
        return layout.image(layout.scenes[0], 0)

    def read_item(self, item: Any, paths: Sequence[str], tick: Tick | None) -> Image:
        layout = CziLayout(Path(paths[0]))
        scene = item.scene or 0
        if scene not in layout.scenes:
            raise ReadError(paths[0], f"the file has no scene {scene + 1}")
        return layout.image(scene, item.time_index or 0)


class CziLayout:
    """What a CZI file holds, from its directory and metadata: scenes and their rectangles,
    Z, C and T counts, pixel type, channel names and spacing."""

    def __init__(self, path: Path) -> None:
        from pylibCZIrw import czi as pyczi

        self.path = path
        try:
            with pyczi.open_czi(str(path)) as doc:
                box = doc.total_bounding_box
                self.rects = dict(doc.scenes_bounding_rectangle) or {-1: None}
                pixel_types = dict(doc.pixel_types)
                metadata = doc.metadata
        except Exception as exc:  # truncated file, damaged directory, not a CZI
            raise ReadError(path, f"not a readable CZI file ({describe(exc)})") from exc
        self.z = box.get("Z", (0, 1))[1] - box.get("Z", (0, 1))[0]
        self.c = box.get("C", (0, 1))[1] - box.get("C", (0, 1))[0]
        self.t = box.get("T", (0, 1))[1] - box.get("T", (0, 1))[0]
        self.whole = (box["X"][1] - box["X"][0], box["Y"][1] - box["Y"][0])
        kinds = set(pixel_types.values())
        if len(kinds) != 1 or next(iter(kinds)) not in _DTYPES:
            raise ReadError(path, f"pixel type {', '.join(sorted(kinds))} is not read yet")
        self.dtype = np.dtype(_DTYPES[next(iter(kinds))])
        image_meta = metadata.get("ImageDocument", {}).get("Metadata", {})
        self.channel_names = _channel_names(image_meta, self.c)
        self.spacing = _spacing_mm(image_meta)

    @property
    def scenes(self) -> list[int]:
        return sorted(max(s, 0) for s in self.rects)

    def size(self, scene: int) -> tuple[int, int]:
        rect = self.rects.get(scene)
        return (rect.h, rect.w) if rect is not None else (self.whole[1], self.whole[0])

    def plane(self, scene: int, z: int, t: int) -> np.ndarray:
        """One z plane of a scene, (y, x) or (y, x, c) for several channels."""
        from pylibCZIrw import czi as pyczi

        with pyczi.open_czi(str(self.path)) as doc:
            kwargs = {"scene": scene} if scene in self.rects else {}
            planes = [
                doc.read(plane={"C": c, "Z": z, "T": t}, **kwargs)[..., 0] for c in range(self.c)
            ]
        return planes[0] if self.c == 1 else np.stack(planes, axis=-1)

    def image(self, scene: int, t: int) -> Image:
        shape = (self.z, *self.size(scene)) + ((self.c,) if self.c > 1 else ())
        check_shape(self.path, shape, "scene")
        # Duck-typed as an ndarray, as Image allows (Image.is_lazy).
        array = cast(np.ndarray, PlaneArray(shape, self.dtype, lambda z: self.plane(scene, z, t)))
        names = tuple(self.channel_names) if self.c > 1 else ()
        meta = _meta(self, scene)
        return Image(array, spacing=self.spacing, metadata=meta, channel_names=names)


def _candidate(path: Path, root: Path, layout: CziLayout, scene: int, file_hash: str) -> Candidate:
    shape = (layout.z, *layout.size(scene))
    check_shape(path, (*shape, layout.c), "scene")
    several = len(layout.scenes) > 1
    return Candidate(
        name=f"{path.stem} — scene {scene + 1}" if several else path.stem,
        kind=kind_from_shape(shape),
        reader="czi",
        paths=[str(path)],
        shape=shape + ((layout.c,) if layout.c > 1 else ()),
        spacing=layout.spacing,
        content_hash=part_hash(file_hash, scene, None),
        size_bytes=path.stat().st_size,
        meta=_meta(layout, scene),
        source=str(root),
        file_hash=file_hash,
        scene=scene,
        time_index=0,
    )


def _meta(layout: CziLayout, scene: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "format": "CZI",
        "microscopy": True,
        "scene": f"scene {scene + 1}",
        "channel_names": list(layout.channel_names),
    }
    if layout.t > 1:
        meta["notes"] = [f"{layout.t} time points: showing the first"]
    return meta


def _channel_names(image_meta: dict[str, Any], count: int) -> list[str]:
    try:
        channels = image_meta["Information"]["Image"]["Dimensions"]["Channels"]["Channel"]
    except (KeyError, TypeError):
        channels = []
    if isinstance(channels, dict):
        channels = [channels]
    names = [str(c.get("@Name") or f"channel {i + 1}") for i, c in enumerate(channels)]
    return (names + [f"channel {i + 1}" for i in range(len(names), count)])[:count]


def _spacing_mm(image_meta: dict[str, Any]) -> tuple[float, float, float]:
    """(z, y, x) in mm from the metadata's Scaling/Distance values (metres); 1.0 each when
    absent. A single plane has no Z distance: it takes the Y one."""
    try:
        items = image_meta["Scaling"]["Items"]["Distance"]
        metres = {d["@Id"]: float(d["Value"]) for d in items if d.get("Value")}
    except (KeyError, TypeError, ValueError):
        return (1.0, 1.0, 1.0)
    if not metres.get("X") or not metres.get("Y"):
        return (1.0, 1.0, 1.0)
    z = metres.get("Z") or metres["Y"]
    return (z * 1000.0, metres["Y"] * 1000.0, metres["X"] * 1000.0)
