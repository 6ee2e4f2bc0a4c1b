"""NIfTI (.nii, .nii.gz) with nibabel, keeping the affine.

nibabel indexes data (i, j, k[, t]) and maps it to RAS+ world space with the affine. medview
arrays are (z, y, x) with LPS geometry, so: the array is data transposed to (k, j, i), LPS =
diag(-1, -1, 1) @ RAS, and array axis 0 (z) is nibabel axis k, 1 is j, 2 is i.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from medview.core.errors import ReadError
from medview.core.image import Image
from medview.io.common import describe
from medview.io.limits import check_shape

SUFFIXES = (".nii", ".nii.gz")
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def is_nifti_name(path: str | Path) -> bool:
    name = str(path).lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def _load_header(path: Path) -> Any:
    import nibabel as nib

    try:
        img = nib.load(str(path))
    except Exception as exc:  # ImageFileError, EOFError, zlib/gzip errors, ValueError...
        raise ReadError(path, f"not a readable NIfTI file ({describe(exc)})") from exc
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise ReadError(path, f"not a NIfTI image ({type(img).__name__})")
    return img


def _volume_shape(path: Path, img: Any) -> tuple[tuple[int, ...], list[str]]:
    """The spatial shape nibabel will hand us (i, j, k) and notes about dropped dimensions."""
    shape = tuple(int(s) for s in img.header.get_data_shape())
    if any(s <= 0 for s in shape):
        raise ReadError(path, f"NIfTI image has an invalid size {shape}")
    notes: list[str] = []
    if len(shape) > 3 and any(s > 1 for s in shape[3:]):
        notes.append(f"{len(shape)}D file {shape}: showing the first volume")
    spatial = shape[:3] if len(shape) >= 3 else shape + (1,) * (3 - len(shape))
    # Only the first volume is ever loaded, so only its size meets the ceiling.
    check_shape(path, spatial, "NIfTI volume")
    return spatial, notes


def probe_nifti(path: str | Path) -> tuple[tuple[int, ...], tuple[float, float, float], dict]:
    """Shape (z, y, x), spacing (z, y, x) and metadata from the header alone, after checking
    that the file holds all the data the header promises (a truncated .nii.gz is named at
    scan time rather than when someone opens it)."""
    path = Path(path)
    img = _load_header(path)
    (i, j, k), notes = _volume_shape(path, img)
    _check_complete(path, img)
    _, spacing, _ = _geometry(img.affine)
    meta: dict[str, Any] = {"format": "NIfTI"}
    if notes:
        meta["notes"] = notes
    return (k, j, i), spacing, meta


def _check_complete(path: Path, img: Any) -> None:
    header = img.header
    # The first volume is all medview reads (4D files): that much data must be there.
    spatial, _ = _volume_shape(path, img)
    volume_bytes = int(np.prod(spatial)) * header.get_data_dtype().itemsize
    needed = int(header.get_data_offset()) + volume_bytes
    if str(path).lower().endswith(".gz"):
        have = 0
        try:
            with gzip.open(path, "rb") as stream:
                while chunk := stream.read(1 << 22):
                    have += len(chunk)
                    if have >= needed:
                        break
        except (OSError, EOFError, zlib.error) as exc:
            raise ReadError(path, f"corrupt or truncated gzip data ({describe(exc)})") from exc
    else:
        have = path.stat().st_size
    if have < needed:
        raise ReadError(
            path, f"truncated: the header needs {needed:,} bytes, the file has {have:,}"
        )


# Deflate cannot compress better than about 1032:1, so a .nii.gz of N bytes holds at most
# ~1032 N bytes of data.
_MAX_DEFLATE_RATIO = 1032


def _check_possible(path: Path, img: Any) -> None:
    """Refuse, before nibabel allocates the array, a file too small to hold what its header
    declares (a 352-byte .nii declaring 1000x1024x1024 int64 made nibabel allocate 8 GB
    before noticing). Exact for .nii; for .nii.gz an upper bound that costs no decompression.
    """
    spatial, _ = _volume_shape(path, img)
    needed = int(img.header.get_data_offset()) + int(np.prod(spatial)) * int(
        img.header.get_data_dtype().itemsize
    )
    size = path.stat().st_size
    compressed = str(path).lower().endswith(".gz")
    capacity = size * _MAX_DEFLATE_RATIO + 1024 if compressed else size
    if capacity < needed:
        raise ReadError(
            path,
            f"truncated: the header needs {needed:,} bytes, the file has {size:,}"
            + (" (compressed)" if compressed else ""),
        )


def _read_gz_direct(path: Path, img: Any, spatial: tuple[int, int, int]) -> np.ndarray | None:
    """The first volume of an unscaled .nii.gz, decompressed straight into its array.

    nibabel decompresses into a buffer and then copies it, so its peak is twice the volume
    (600 MiB for a 512x512x600 int16 CT, measured by bench/scale.py); this reads into the
    final array. None where nibabel's own path is needed (scaling, colour records, foreign
    byte order), which stays the reference for those.
    """
    if not str(path).lower().endswith(".gz"):
        return None
    # nibabel moves the header's scaling and offset into the array proxy when it loads a
    # file (the header then says "no scaling"): read them from there.
    proxy = img.dataobj
    try:
        dtype = np.dtype(proxy.dtype)
        slope, inter, offset = float(proxy.slope), float(proxy.inter), int(proxy.offset)
    except (AttributeError, TypeError, ValueError):
        return None
    if dtype.fields is not None or not dtype.isnative or dtype.kind not in "biuf":
        return None
    if slope != 1.0 or inter != 0.0:
        return None
    out = np.empty(int(np.prod(spatial)), dtype=dtype)
    view = out.data.cast("B")
    try:
        with gzip.open(path, "rb") as stream:
            stream.seek(offset)
            filled = 0
            while filled < len(view):
                # In pieces: gzip's readinto decompresses a whole request into a temporary
                # bytes object first, which for one big request is the copy we avoid.
                n = stream.readinto(view[filled : filled + (1 << 22)])
                if not n:
                    break
                filled += n
    except (OSError, EOFError, zlib.error) as exc:
        raise ReadError(path, f"corrupt or truncated gzip data ({describe(exc)})") from exc
    if filled < len(view):
        raise ReadError(
            path,
            f"truncated: the header needs {offset + len(view):,} bytes, the file has "
            f"{offset + filled:,} (uncompressed)",
        )
    return out.reshape(spatial, order="F")  # NIfTI data: i varies fastest


def read_nifti(path: str | Path) -> Image:
    path = Path(path)
    img = _load_header(path)
    (i, j, k), notes = _volume_shape(path, img)
    _check_possible(path, img)
    try:
        data = _read_gz_direct(path, img, (i, j, k))
        if data is None:
            proxy = img.dataobj
            ndim = len(img.shape)
            if ndim > 3:
                data = np.asanyarray(proxy[(slice(None),) * 3 + (0,) * (ndim - 3)])
            else:
                data = np.asanyarray(proxy)
    except ReadError:
        raise
    except Exception as exc:  # truncated data, bad gzip, bad dtype...
        raise ReadError(path, f"cannot read the NIfTI data ({describe(exc)})") from exc
    if data.dtype.names:  # RGB24 / RGBA32 records -> a colour axis
        data = np.stack([data[n] for n in data.dtype.names[:3]], axis=-1)
        data = data.reshape((i, j, k, 3))
        array = np.ascontiguousarray(data.transpose(2, 1, 0, 3))
    else:
        data = data.reshape((i, j, k))
        array = np.ascontiguousarray(data.transpose(2, 1, 0))
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8)
    origin, spacing, direction = _geometry(img.affine)
    meta: dict[str, Any] = {"format": "NIfTI"}
    if notes:
        meta["notes"] = notes
    slice_axis = _slice_axis(img.header)
    if slice_axis is not None:
        meta["slice_axis"] = slice_axis
    desc = img.header.get("descrip")
    if desc is not None:
        text = bytes(np.asarray(desc)).split(b"\0")[0].decode("latin-1").strip()
        if text:
            meta["description"] = text
    return Image(array, spacing=spacing, origin=origin, direction=direction, metadata=meta)


def _slice_axis(header: Any) -> int | None:
    """The array axis (z, y, x) the header's ``dim_info`` names as the slice direction (the
    acquisition axis slice mode trains along), or None when it does not say."""
    try:
        dim = header.get_dim_info()[2]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return 2 - int(dim) if dim in (0, 1, 2) else None


def _geometry(
    affine: np.ndarray,
) -> tuple[tuple[float, float, float], tuple[float, float, float], np.ndarray]:
    """(origin LPS, spacing (z, y, x), direction with columns in (z, y, x) order)."""
    a = np.asarray(affine, dtype=float)
    lps = _RAS_TO_LPS @ a[:3, :3]
    columns = [lps[:, 2], lps[:, 1], lps[:, 0]]  # array axes z, y, x = nibabel k, j, i
    spacing = []
    direction = np.eye(3)
    for axis, column in enumerate(columns):
        norm = float(np.linalg.norm(column))
        if not np.isfinite(norm) or norm <= 0:
            spacing.append(1.0)
            continue
        spacing.append(norm)
        direction[:, axis] = column / norm
    origin = _RAS_TO_LPS @ a[:3, 3]
    if not np.all(np.isfinite(origin)):
        origin = np.zeros(3)
    return tuple(float(o) for o in origin), tuple(spacing), direction  # type: ignore[return-value]
