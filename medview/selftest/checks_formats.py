"""Self-test check of the file formats that can be written here: a multi-scene OME-TIFF
(bioio-ome-tiff), a multiscale OME-Zarr (bioio-ome-zarr), a multi-scene CZI (pylibCZIrw) and
an Analyze 7.5 pair (nibabel), each scanned and opened through medview.io, as an import would.
A bundle that lost a plugin (or its compiled library) fails here, naming it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from medview.selftest.base import CheckFailed, Context


def check_formats(ctx: Context) -> str:
    import numpy as np

    from medview.io.readers import read_image, scan

    folder = ctx.workdir / "formats"
    folder.mkdir(exist_ok=True)
    data = np.arange(2 * 3 * 8 * 10, dtype=np.uint16).reshape(2, 3, 8, 10)  # C, Z, Y, X
    writers: dict[str, tuple[str, Callable[[Path, Any], None], int]] = {
        "OME-TIFF": ("cells.ome.tiff", _ome_tiff, 2),
        "OME-Zarr": ("cells.zarr", _ome_zarr, 1),
        "CZI": ("cells.czi", _czi, 2),
        "Analyze": ("brain.hdr", _analyze, 1),
    }
    opened = []
    for label, (name, write, scenes) in writers.items():
        path = folder / name
        try:
            write(path, data)
        except ImportError as exc:
            raise CheckFailed(f"{label}: cannot write a test file ({exc})") from exc
        result = scan(path)
        if result.skipped or len(result.found) != scenes:
            why = "; ".join(f"{Path(p).name}: {r}" for p, r in result.skipped)
            raise CheckFailed(f"{label}: {len(result.found)} of {scenes} item(s) found ({why})")
        image = read_image(path).loaded()
        expected = data[0] if label == "Analyze" else data  # Analyze: one channel
        if int(np.asarray(image.array).max()) != int(expected.max()):
            raise CheckFailed(f"{label}: the pixels read back differ from those written")
        opened.append(f"{label} ({scenes} scene{'s' if scenes > 1 else ''})")
    return "opened " + ", ".join(opened)


def _ome_tiff(path: Path, data: Any) -> None:
    from bioio_ome_tiff.writers import OmeTiffWriter

    OmeTiffWriter.save([data, data], path, dim_order="CZYX", channel_names=[["a", "b"]] * 2)


def _ome_zarr(path: Path, data: Any) -> None:
    from bioio_ome_zarr.writers import OMEZarrWriter

    writer = OMEZarrWriter(
        str(path),
        level_shapes=[data.shape, (*data.shape[:2], 4, 5)],
        dtype=data.dtype,
        axes_names=["c", "z", "y", "x"],
        axes_types=["channel", "space", "space", "space"],
    )
    writer.write_full_volume(data)


def _czi(path: Path, data: Any) -> None:
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for scene, location in enumerate(((0, 0), (50, 0))):
            for c in range(data.shape[0]):
                for z in range(data.shape[1]):
                    plane = {"C": c, "Z": z, "T": 0}
                    writer.write(data[c, z], plane=plane, scene=scene, location=location)


def _analyze(path: Path, data: Any) -> None:
    import nibabel as nib
    import numpy as np

    volume = data[0].transpose(2, 1, 0).astype(np.int16)  # Analyze 7.5 has no uint16
    nib.save(nib.AnalyzeImage(volume, np.eye(4)), str(path))
