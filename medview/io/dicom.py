"""DICOM: find series in folders, order slices, rescale to HU, decode pixels.

Scanning reads each file's header once (``stop_before_pixels``); pixels are decoded only when
an item is loaded. A file that cannot be read is skipped with its reason and never takes the
rest of its series down.

Geometry follows ``medview.core.image``: array (z, y, x); DICOM's ImageOrientationPatient holds
the row direction (the way the column index x grows) then the column direction (y), so
``direction = [normal, column_dir, row_dir]`` as columns, PixelSpacing is (row spacing = y,
column spacing = x) and the origin is the ImagePositionPatient of the first slice after
sorting along the normal.

Pixel decoding (which decoder, when in parallel) lives in :mod:`medview.io.dicom_pixels`.
"""

from __future__ import annotations

import math
import warnings as pywarnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medview.core.errors import ReadError
from medview.core.image import Image
from medview.io.common import describe
from medview.io.limits import check_shape

# Names that say DICOM. Files without a suffix are common in DICOM exports (IM0001,
# 1.2.840...): those are recognised by the "DICM" marker instead.
DICOM_SUFFIXES = (".dcm", ".dicom", ".dic", ".ima")
# Implicit and explicit VR little endian: uncompressed bytes usable as they are.
RAW_LITTLE_ENDIAN = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")
UNCOMPRESSED = (*RAW_LITTLE_ENDIAN, "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")

# pydicom warns (UserWarning) about every slightly non-conformant value it reads; those are
# not actionable for a medview user, so keep them off the console.
pywarnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\..*)?$")

# Slice positions closer than this (mm) are "the same position".
_SAME_POSITION_MM = 1e-3
# Gaps differing by more than this fraction of the median gap are "uneven".
_UNEVEN_FRACTION = 0.01


# ================================================================ headers
@dataclass
class FrameInfo:
    """One 2D frame of a file: where it is and how to rescale it."""

    position: tuple[float, float, float] | None
    slope: float
    intercept: float


@dataclass
class DicomHeader:
    path: str
    series_uid: str
    sop_uid: str
    instance: int | None
    rows: int
    cols: int
    frames: int
    samples: int
    bits_allocated: int
    transfer_syntax: str
    photometric: str
    orientation: tuple[float, ...] | None  # 6 direction cosines: row dir, column dir
    pixel_spacing: tuple[float, float] | None  # (y, x) mm
    frame_info: list[FrameInfo]
    slice_thickness: float | None = None
    spacing_between: float | None = None
    modality: str = ""
    series_description: str = ""
    series_number: int | None = None
    size_bytes: int = 0
    # A hash of PatientID, for grouping series by patient; the ID itself is not kept.
    patient_key: str | None = field(default=None, repr=False)

    @property
    def compressed(self) -> bool:
        return self.transfer_syntax not in UNCOMPRESSED

    @property
    def plane_key(self) -> tuple[int, int, int]:
        return (self.rows, self.cols, self.samples)

    @property
    def is_colour(self) -> bool:
        return self.samples >= 3 or self.photometric == "PALETTE COLOR"


def looks_like_dicom(path: str | Path) -> bool:
    """True when the file has the DICM marker at byte 128 (the standard's Part 10 layout)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _dcmread(source: Any, stop_before_pixels: bool, path: Path) -> Any:
    """dcmread, with a forced read for DICOM-named files lacking the Part 10 preamble."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(source, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        # No preamble/"DICM": old ACR-NEMA style files. Only trust a forced read for names
        # that say DICOM, and then demand image attributes (checked by the caller).
        if path.suffix.lower() not in DICOM_SUFFIXES and path.suffix:
            raise
        if hasattr(source, "seek"):
            source.seek(0)
        return pydicom.dcmread(source, stop_before_pixels=stop_before_pixels, force=True)


def dcmread_any(path: str | Path, stop_before_pixels: bool) -> Any:
    return _dcmread(str(path), stop_before_pixels, Path(path))


def read_header(path: str | Path) -> DicomHeader:
    """The header of one file (no pixel data). Raises ReadError with the reason."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            ds = _dcmread(handle, stop_before_pixels=True, path=path)
            # pydicom stops with the file positioned at the pixel data element.
            pixel_offset = handle.tell()
    except OSError as exc:
        raise ReadError(path, f"cannot open ({exc.strerror})") from exc
    except Exception as exc:
        raise ReadError(path, f"not a readable DICOM file ({describe(exc)})") from exc
    header = header_from_dataset(ds, path)
    _check_not_truncated(path, header, pixel_offset)
    return header


def _float(value: Any, default: float | None = None) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


def _floats(value: Any, count: int) -> tuple[float, ...] | None:
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(values) != count or not all(math.isfinite(v) for v in values):
        return None
    return values


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _first_item(ds: Any, keyword: str) -> Any:
    seq = ds.get(keyword)
    return seq[0] if seq else None


def header_from_dataset(ds: Any, path: str | Path) -> DicomHeader:
    path = Path(path)
    try:
        return _header_from_dataset(ds, path)
    except ReadError:
        raise
    except Exception as exc:  # a malformed element surfaces when it is first accessed
        raise ReadError(path, f"malformed DICOM header ({describe(exc)})") from exc


def _header_from_dataset(ds: Any, path: Path) -> DicomHeader:
    rows, cols = _int(ds.get("Rows")), _int(ds.get("Columns"))
    if not rows or not cols:
        if "SOPClassUID" not in ds and not looks_like_dicom(path):
            # A forced read of a .dcm-named file that is not DICOM at all (random bytes, a
            # PNG renamed): say so, rather than "a DICOM file without an image".
            raise ReadError(path, "not a DICOM file (no DICOM header found)")
        modality = str(ds.get("Modality", "") or "?")
        raise ReadError(path, f"DICOM file without an image (modality {modality})")
    frames = _int(ds.get("NumberOfFrames")) or 1
    samples = _int(ds.get("SamplesPerPixel")) or 1
    check_shape(path, (frames, rows, cols, samples), "DICOM image")
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "") if meta is not None else "")
    if not syntax:
        syntax = "1.2.840.10008.1.2"  # no meta: implicit VR little endian by definition

    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")

    orientation = _floats(ds.get("ImageOrientationPatient"), 6)
    spacing = _floats(ds.get("PixelSpacing"), 2)
    thickness = _float(ds.get("SliceThickness"))
    between = _float(ds.get("SpacingBetweenSlices"))
    slope = _float(ds.get("RescaleSlope"), 1.0) or 1.0
    intercept = _float(ds.get("RescaleIntercept"), 0.0) or 0.0
    if shared is not None:  # enhanced multi-frame: geometry lives in functional groups
        plane = _first_item(shared, "PlaneOrientationSequence")
        if plane is not None and orientation is None:
            orientation = _floats(plane.get("ImageOrientationPatient"), 6)
        measures = _first_item(shared, "PixelMeasuresSequence")
        if measures is not None:
            spacing = spacing or _floats(measures.get("PixelSpacing"), 2)
            thickness = thickness or _float(measures.get("SliceThickness"))
            between = between or _float(measures.get("SpacingBetweenSlices"))
        transform = _first_item(shared, "PixelValueTransformationSequence")
        if transform is not None:
            slope = _float(transform.get("RescaleSlope"), slope) or slope
            intercept = _float(transform.get("RescaleIntercept"), intercept) or 0.0

    position = _floats(ds.get("ImagePositionPatient"), 3)
    frame_info = [FrameInfo(position, slope, intercept) for _ in range(frames)]
    if per_frame is not None and len(per_frame) == frames:
        for index, group in enumerate(per_frame):
            info = frame_info[index]
            plane_pos = _first_item(group, "PlanePositionSequence")
            if plane_pos is not None:
                info.position = _floats(plane_pos.get("ImagePositionPatient"), 3)
            if orientation is None:
                plane = _first_item(group, "PlaneOrientationSequence")
                if plane is not None:
                    orientation = _floats(plane.get("ImageOrientationPatient"), 6)
            if spacing is None:
                measures = _first_item(group, "PixelMeasuresSequence")
                if measures is not None:
                    spacing = _floats(measures.get("PixelSpacing"), 2)
            transform = _first_item(group, "PixelValueTransformationSequence")
            if transform is not None:
                info.slope = _float(transform.get("RescaleSlope"), info.slope) or info.slope
                info.intercept = _float(transform.get("RescaleIntercept"), info.intercept) or 0.0
    elif frames > 1 and position is not None and orientation is not None:
        # Classic multi-frame (RT dose, NM): GridFrameOffsetVector gives offsets along the normal.
        offsets = ds.get("GridFrameOffsetVector")
        values = _floats(offsets, frames) if offsets is not None else None
        if values is not None:
            normal = _normal(orientation)
            for info, offset in zip(frame_info, values, strict=True):
                info.position = tuple(float(p) for p in np.asarray(position) + offset * normal)
        else:
            for info in frame_info:
                info.position = None
    if spacing is not None and any(s <= 0 for s in spacing):
        spacing = None

    series_uid = str(ds.get("SeriesInstanceUID", "") or "")
    return DicomHeader(
        path=str(path),
        series_uid=series_uid or f"no-series-uid:{path}",
        sop_uid=str(ds.get("SOPInstanceUID", "") or path),
        instance=_int(ds.get("InstanceNumber")),
        rows=rows,
        cols=cols,
        frames=frames,
        samples=samples,
        bits_allocated=_int(ds.get("BitsAllocated")) or 16,
        transfer_syntax=syntax,
        photometric=str(ds.get("PhotometricInterpretation", "") or "MONOCHROME2").upper(),
        orientation=orientation,
        pixel_spacing=spacing,  # type: ignore[arg-type]
        frame_info=frame_info,
        slice_thickness=thickness if thickness and thickness > 0 else None,
        spacing_between=between if between and between > 0 else None,
        modality=str(ds.get("Modality", "") or ""),
        series_description=str(ds.get("SeriesDescription", "") or ""),
        series_number=_int(ds.get("SeriesNumber")),
        size_bytes=_file_size(path),
        patient_key=_patient_key(ds),
    )


def _patient_key(ds: Any) -> str | None:
    patient = str(ds.get("PatientID", "") or "").strip()
    if not patient:
        return None
    import hashlib

    return hashlib.blake2b(patient.encode("utf-8", "replace"), digest_size=16).hexdigest()


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _check_not_truncated(path: Path, header: DicomHeader, pixel_offset: int) -> None:
    """Uncompressed pixel data has a known size: a file too short to hold it after the
    pixel data element's start is truncated. (Compressed data can only be checked by
    decoding it, which happens at load.)"""
    have = header.size_bytes - pixel_offset
    if have <= 0:
        raise ReadError(path, "DICOM file without pixel data")
    if header.compressed or header.bits_allocated < 8:
        return
    needed = header.rows * header.cols * header.frames * header.samples * header.bits_allocated
    needed //= 8
    if have < needed + 8:  # + the element's tag and length
        raise ReadError(
            path, f"truncated: the pixel data needs {needed:,} bytes, the file has {have:,}"
        )


def _normal(orientation: Sequence[float]) -> np.ndarray:
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:], dtype=float)
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    return normal / norm if norm > 0 else np.array([0.0, 0.0, 1.0])


# ================================================================ series grouping and order
@dataclass
class SliceRef:
    header: DicomHeader
    frame: int

    @property
    def info(self) -> FrameInfo:
        return self.header.frame_info[self.frame]


@dataclass
class SeriesPlan:
    """A series (or one multi-frame file) ready to load: slices in order and its geometry."""

    slices: list[SliceRef]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def headers(self) -> list[DicomHeader]:
        seen: dict[str, DicomHeader] = {}
        for ref in self.slices:
            seen.setdefault(ref.header.path, ref.header)
        return list(seen.values())

    @property
    def paths(self) -> list[str]:
        return [h.path for h in self.headers]

    @property
    def first(self) -> DicomHeader:
        return self.slices[0].header

    @property
    def shape(self) -> tuple[int, ...]:
        h = self.first
        base = (len(self.slices), h.rows, h.cols)
        return base + (3,) if h.is_colour else base


def group_series(
    headers: Sequence[DicomHeader],
) -> tuple[list[SeriesPlan], list[tuple[str, str]]]:
    """Group headers into series and order each. Returns (plans, skipped (path, reason)).

    Single-frame files group by SeriesInstanceUID; a multi-frame file is a volume of its own.
    Within a series, files whose size or orientation differ from the majority (a localizer, a
    stray reconstruction) and repeated instances are skipped, not fatal.
    """
    skipped: list[tuple[str, str]] = []
    groups: dict[tuple[str, str], list[DicomHeader]] = {}
    for header in headers:
        separate = header.frames > 1 or _standalone_2d(header)
        key = (header.series_uid, header.sop_uid if separate else "")
        groups.setdefault(key, []).append(header)
    plans: list[SeriesPlan] = []
    for members in groups.values():
        kept = _consistent(members, skipped)
        if kept:
            plans.append(order_slices(kept, skipped))
    return plans, skipped


# Modalities whose single-frame images are slices of a volume even when a file lacks its
# position (then InstanceNumber orders them); other modalities' images stand alone.
_VOLUME_MODALITIES = {"CT", "MR", "PT", "NM", "OCT", "OPT"}


def _standalone_2d(header: DicomHeader) -> bool:
    """A radiograph, mammogram, photo or screenshot without a slice position: several of them
    in one series are separate images (views), not slices to stack."""
    if header.frame_info[0].position is not None and header.orientation is not None:
        return False
    return header.modality.upper() not in _VOLUME_MODALITIES


def _consistent(members: list[DicomHeader], skipped: list[tuple[str, str]]) -> list[DicomHeader]:
    by_sop: dict[str, DicomHeader] = {}
    unique: list[DicomHeader] = []
    for header in sorted(members, key=lambda h: h.path):
        if header.sop_uid in by_sop:
            skipped.append((header.path, f"same image as {Path(by_sop[header.sop_uid].path).name}"))
            continue
        by_sop[header.sop_uid] = header
        unique.append(header)
    if len(unique) <= 1:
        return unique
    plane = Counter(h.plane_key for h in unique).most_common(1)[0][0]
    orient = Counter(_rounded(h.orientation) for h in unique if h.plane_key == plane)
    main_orient = orient.most_common(1)[0][0]
    kept = []
    for header in unique:
        if header.plane_key != plane:
            skipped.append(
                (
                    header.path,
                    f"image size {header.rows}x{header.cols} differs from the rest of its "
                    f"series ({plane[0]}x{plane[1]})",
                )
            )
        elif _rounded(header.orientation) != main_orient:
            skipped.append(
                (
                    header.path,
                    "slice orientation differs from the rest of its series (a localizer?)",
                )
            )
        else:
            kept.append(header)
    return kept


def _rounded(orientation: tuple[float, ...] | None) -> tuple[float, ...] | None:
    return tuple(round(v, 3) for v in orientation) if orientation else None


def order_slices(
    headers: Sequence[DicomHeader], skipped: list[tuple[str, str]] | None = None
) -> SeriesPlan:
    """Sort the frames of consistent headers along the slice normal and derive the geometry."""
    skipped = skipped if skipped is not None else []
    refs = [SliceRef(h, f) for h in headers for f in range(h.frames)]
    first = headers[0]
    warnings: list[str] = []
    orientation = first.orientation
    pixel = first.pixel_spacing or (1.0, 1.0)
    if first.pixel_spacing is None:
        warnings.append("no PixelSpacing: assuming 1 mm pixels")
    if orientation is not None:
        row = np.asarray(orientation[:3], dtype=float)
        col = np.asarray(orientation[3:], dtype=float)
        normal = _normal(orientation)
    else:
        row, col, normal = np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0])
    positioned = orientation is not None and all(r.info.position is not None for r in refs)
    z_spacing = first.spacing_between or first.slice_thickness or 1.0
    origin = refs[0].info.position or (0.0, 0.0, 0.0)
    if positioned and len(refs) > 1:
        distance = {id(r): float(np.dot(r.info.position, normal)) for r in refs}  # type: ignore[arg-type]
        refs.sort(key=lambda r: (distance[id(r)], r.header.instance or 0, r.header.path, r.frame))
        refs = _drop_repeated_positions(refs, distance, skipped, warnings)
        d = np.array([distance[id(r)] for r in refs])
        if len(d) > 1:
            gaps = np.diff(d)
            median = float(np.median(gaps))
            if median > 0:
                z_spacing = median
                spread = float(gaps.max() - gaps.min())
                if spread > max(_SAME_POSITION_MM * 10, _UNEVEN_FRACTION * median):
                    message = (
                        f"uneven slice gaps: {gaps.min():.3g} to {gaps.max():.3g} mm "
                        f"(using the median {median:.3g} mm)"
                    )
                    if gaps.max() > 1.5 * median:
                        missing = int(np.sum(np.round(gaps / median) - 1).clip(min=0))
                        message += f"; about {missing} slice(s) seem to be missing"
                    warnings.append(message)
        origin = refs[0].info.position  # type: ignore[assignment]
    elif len(refs) > 1:
        refs.sort(
            key=lambda r: (
                r.header.instance is None,
                r.header.instance or 0,
                r.header.path,
                r.frame,
            )
        )
        if len(headers) > 1:
            warnings.append("no slice positions: slices ordered by InstanceNumber")
    direction = np.column_stack([normal, col, row])
    spacing = (float(z_spacing), float(pixel[0]), float(pixel[1]))
    return SeriesPlan(refs, spacing, tuple(float(o) for o in origin), direction, warnings)  # type: ignore[arg-type]


def _drop_repeated_positions(
    refs: list[SliceRef],
    distance: dict[int, float],
    skipped: list[tuple[str, str]],
    warnings: list[str],
) -> list[SliceRef]:
    """Two slices at one position (a second acquisition, a 4D series) cannot both be in one
    volume: keep the first (lowest InstanceNumber) and report the others."""
    kept: list[SliceRef] = []
    dropped = 0
    for ref in refs:
        if kept and abs(distance[id(ref)] - distance[id(kept[-1])]) < _SAME_POSITION_MM:
            dropped += 1
            if ref.header.frames == 1:
                skipped.append(
                    (ref.header.path, f"same slice position as {Path(kept[-1].header.path).name}")
                )
            continue
        kept.append(ref)
    if dropped:
        warnings.append(f"{dropped} slice(s) repeat a position already present and were left out")
    return kept


# ================================================================ loading
def read_series(
    paths: Sequence[str | Path],
    progress: Callable[[int, int], None] | None = None,
    name: str | Path | None = None,
) -> Image:
    """Load a series (or one file) from its files. Unreadable files are left out with a
    warning in ``metadata["warnings"]``; only a series with no readable slice is an error."""
    from medview.io import dicom_pixels

    paths = [str(p) for p in paths]
    label = name or (paths[0] if len(paths) == 1 else str(Path(paths[0]).parent))
    if not paths:
        raise ReadError(label, "no DICOM files")
    try:
        first: DicomHeader | None = read_header(paths[0])
    except ReadError:
        first = None  # the first file is bad: the others may not be
    if first is not None:
        # Refuse an absurd series before decoding anything (assumes files alike, as series are).
        samples = 3 if first.is_colour else 1
        check_shape(label, (len(paths) * first.frames, first.rows, first.cols, samples), "series")
    with dicom_pixels.decode_files(paths, first, progress) as decoded:
        return _build_image(decoded.files, label)


def _build_image(decoded: Sequence[Any], label: str | Path) -> Image:
    warnings: list[str] = []
    headers: list[DicomHeader] = []
    arrays: dict[str, np.ndarray] = {}
    for item in decoded:
        if item.header is None or item.array is None:
            warnings.append(f"skipped {Path(item.path).name}: {item.error}")
            continue
        headers.append(item.header)
        arrays[item.path] = item.array
    if not headers:
        if len(decoded) == 1:
            raise ReadError(decoded[0].path, str(decoded[0].error))
        reasons = "; ".join(w.removeprefix("skipped ") for w in warnings[:3])
        raise ReadError(label, f"no readable DICOM image ({reasons})")
    plans, skipped = group_series(headers)
    plan = max(plans, key=lambda p: len(p.slices))
    if len(plans) > 1:
        warnings.append(f"{len(plans)} series found: showing the largest")
    warnings.extend(f"skipped {Path(p).name}: {r}" for p, r in skipped)
    warnings.extend(plan.warnings)
    array = _assemble(plan, arrays)
    first = plan.first
    metadata: dict[str, Any] = {
        "format": "DICOM",
        "modality": first.modality,
        "series_description": first.series_description,
        "files": len(plan.headers),
        "transfer_syntax": syntax_name(first.transfer_syntax),
    }
    if first.photometric == "MONOCHROME1":
        array = _invert(array)
        metadata["notes"] = ["MONOCHROME1: values inverted so that bright is high"]
    if warnings:
        metadata["warnings"] = warnings
    return Image(
        array,
        spacing=plan.spacing,
        origin=plan.origin,
        direction=plan.direction,
        metadata=metadata,
    )


def _invert(array: np.ndarray) -> np.ndarray:
    """MONOCHROME1 (high = dark) to the usual high = bright, in the array's own range."""
    if array.dtype.kind == "f":
        return (array.max() + array.min()) - array
    total = int(array.max()) + int(array.min())
    return (total - array.astype(np.int64)).astype(array.dtype)


def _assemble(plan: SeriesPlan, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Stack frames in plan order and rescale to real values (HU for CT).

    The result stays integer (int16 when every value fits) when the rescale is an exact
    integer map, which halves memory against float32 for the common CT case."""
    frames = [arrays[r.header.path][r.frame] for r in plan.slices]
    infos = [r.info for r in plan.slices]
    colour = frames[0].ndim == 3
    identity = all(i.slope == 1.0 and i.intercept == 0.0 for i in infos)
    integral = all(
        float(i.slope).is_integer() and float(i.intercept).is_integer() for i in infos
    ) and all(np.issubdtype(f.dtype, np.integer) for f in frames)
    if colour or identity:
        dtype = np.result_type(*[f.dtype for f in frames])
        return np.stack(frames).astype(dtype, copy=False)
    target: Any = np.float32
    if integral:
        low, high = math.inf, -math.inf
        for frame, info in zip(frames, infos, strict=True):
            ends = (float(frame.min()) * info.slope, float(frame.max()) * info.slope)
            low = min(low, min(ends) + info.intercept)
            high = max(high, max(ends) + info.intercept)
        for candidate in (np.int16, np.int32):
            limits = np.iinfo(candidate)
            values = [low, high] + [i.slope for i in infos] + [i.intercept for i in infos]
            if all(limits.min <= v <= limits.max for v in values):
                target = candidate
                break
    out = np.empty((len(frames), *frames[0].shape), dtype=target)
    # In place, one slice at a time: no volume-sized temporaries. Integer results wrap
    # modulo 2^n on the way and land exact because the final range was checked to fit.
    for index, (frame, info) in enumerate(zip(frames, infos, strict=True)):
        dst = out[index]
        np.copyto(dst, frame, casting="unsafe")
        if info.slope != 1.0:
            np.multiply(dst, target(info.slope), out=dst, casting="unsafe")
        if info.intercept != 0.0:
            np.add(dst, target(info.intercept), out=dst, casting="unsafe")
    return out


def syntax_name(uid: str) -> str:
    try:
        from pydicom.uid import UID

        return UID(uid).name
    except Exception:
        return uid
