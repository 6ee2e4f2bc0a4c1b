"""DICOM series: group headers into series, order slices and derive the volume's geometry.

Works on ``DicomHeader`` objects only (no file access, no pixels), so it is cheap to run over a
whole folder's scan. Geometry follows ``medview.core.image``: array (z, y, x); DICOM's
ImageOrientationPatient holds the row direction (the way the column index x grows) then the
column direction (y), so ``direction = [normal, column_dir, row_dir]`` as columns, PixelSpacing
is (row spacing = y, column spacing = x) and the origin is the ImagePositionPatient of the first
slice after sorting along the normal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medview.io.dicom_geometry import FrameInfo, slice_normal
from medview.io.dicom_header import DicomHeader

# Slice positions closer than this (mm) are "the same position".
_SAME_POSITION_MM = 1e-3
# Gaps differing by more than this fraction of the median gap are "uneven".
_UNEVEN_FRACTION = 0.01


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
        normal = slice_normal(orientation)
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
