"""DICOM headers: recognise a DICOM file and read one file's header into a ``DicomHeader``.

Only the header is read here (``stop_before_pixels``); pixels are decoded elsewhere
(:mod:`medview.io.dicom_pixels`). A file that cannot be read raises ``ReadError`` with a reason
a user can act on; the callers decide whether that skips the file or fails the load.

Orientation and positions are kept as DICOM gives them (patient coordinates, mm); turning them
into an ordered volume is :mod:`medview.io.dicom_series`'s job.
"""

from __future__ import annotations

import warnings as pywarnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medview.core.errors import ReadError
from medview.io.common import describe
from medview.io.dicom_geometry import (
    FrameInfo,
    frame_info_of,
    geometry_of,
    to_int,
)
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
    _check_header_complete(ds, path, pixel_offset)
    header = header_from_dataset(ds, path)
    _check_not_truncated(path, header, pixel_offset)
    return header


def _check_header_complete(ds: Any, path: Path, end: int) -> None:
    """An image file whose header runs to the end of the file, with no pixel data after it,
    was cut inside its header (else it reads as "a DICOM file without an image")."""
    size = _file_size(path)
    if end < size or non_image_type(ds) is not None:
        return
    meta = getattr(ds, "file_meta", None)
    sop_class = str(ds.get("SOPClassUID", "") or "") or str(
        meta.get("MediaStorageSOPClassUID", "") if meta is not None else ""
    )
    try:
        from pydicom.uid import UID

        name = UID(sop_class).name if sop_class else ""
    except Exception:
        name = ""
    if "Image Storage" in name:
        raise ReadError(
            path,
            f"truncated: the file ends inside its header at byte {size:,}, before the pixel "
            f"data ({name})",
        )


def header_from_dataset(ds: Any, path: str | Path) -> DicomHeader:
    path = Path(path)
    try:
        return _header_from_dataset(ds, path)
    except ReadError:
        raise
    except Exception as exc:  # a malformed element surfaces when it is first accessed
        raise ReadError(path, f"malformed DICOM header ({describe(exc)})") from exc


def _header_from_dataset(ds: Any, path: Path) -> DicomHeader:
    rows, cols = _image_size(ds, path)
    frames = to_int(ds.get("NumberOfFrames")) or 1
    samples = to_int(ds.get("SamplesPerPixel")) or 1
    check_shape(path, (frames, rows, cols, samples), "DICOM image")
    geometry = geometry_of(ds)
    frame_info = frame_info_of(ds, geometry, frames)
    spacing = geometry.spacing
    if spacing is not None and any(s <= 0 for s in spacing):
        spacing = None
    thickness, between = geometry.thickness, geometry.between
    return DicomHeader(
        path=str(path),
        series_uid=str(ds.get("SeriesInstanceUID", "") or "") or f"no-series-uid:{path}",
        sop_uid=str(ds.get("SOPInstanceUID", "") or path),
        rows=rows,
        cols=cols,
        frames=frames,
        samples=samples,
        bits_allocated=to_int(ds.get("BitsAllocated")) or 16,
        transfer_syntax=_transfer_syntax(ds),
        photometric=str(ds.get("PhotometricInterpretation", "") or "MONOCHROME2").upper(),
        orientation=geometry.orientation,
        pixel_spacing=spacing,  # type: ignore[arg-type]
        frame_info=frame_info,
        slice_thickness=thickness if thickness and thickness > 0 else None,
        spacing_between=between if between and between > 0 else None,
        size_bytes=_file_size(path),
        patient_key=_patient_key(ds),
        **{name: read(ds.get(keyword)) for name, keyword, read in _PLAIN_FIELDS},
    )


def _text(value: Any) -> str:
    return str(value or "")


# DicomHeader fields read as they are from one top-level attribute: (field, keyword, reader).
_PLAIN_FIELDS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("instance", "InstanceNumber", to_int),
    ("series_number", "SeriesNumber", to_int),
    ("modality", "Modality", _text),
    ("series_description", "SeriesDescription", _text),
)


def _image_size(ds: Any, path: Path) -> tuple[int, int]:
    """Rows and columns, or a ReadError saying what the file is when it holds no image."""
    not_image = non_image_type(ds)
    if not_image is not None:
        # A segmentation has Rows, Columns and pixel data, so without this check it became
        # an "image" beside its CT; the others have no pixels and were "without an image".
        raise ReadError(path, f"{not_image}: not an image, skipped")
    rows, cols = to_int(ds.get("Rows")), to_int(ds.get("Columns"))
    if not rows or not cols:
        if "SOPClassUID" not in ds and not looks_like_dicom(path):
            # A forced read of a .dcm-named file that is not DICOM at all (random bytes, a
            # PNG renamed): say so, rather than "a DICOM file without an image".
            raise ReadError(path, "not a DICOM file (no DICOM header found)")
        modality = str(ds.get("Modality", "") or "?")
        raise ReadError(path, f"DICOM file without an image (modality {modality})")
    return rows, cols


def _transfer_syntax(ds: Any) -> str:
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "") if meta is not None else "")
    return syntax or "1.2.840.10008.1.2"  # no meta: implicit VR little endian by definition


# DICOM objects that describe images rather than being one: (SOP Class UID prefix, modality,
# what to call it). Presentation states are the 1.1.11.x family, SR and KO the 1.1.88.x one.
_NON_IMAGE_CLASSES = (
    ("1.2.840.10008.5.1.4.1.1.66.4", "SEG", "DICOM segmentation (SEG)"),
    ("1.2.840.10008.5.1.4.1.1.481.3", "RTSTRUCT", "DICOM RT structure set (RTSTRUCT)"),
    ("1.2.840.10008.5.1.4.1.1.11.", "PR", "DICOM presentation state (PR)"),
    ("1.2.840.10008.5.1.4.1.1.88.59", "KO", "DICOM key object selection (KO)"),
    ("1.2.840.10008.5.1.4.1.1.88.", "SR", "DICOM structured report (SR)"),
)


def non_image_type(ds: Any) -> str | None:
    """What a SEG, RTSTRUCT, PR, SR or KO object is called, from its SOP Class UID (or, when
    that is missing, its Modality); None for anything else."""
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if not sop_class:
        meta = getattr(ds, "file_meta", None)
        sop_class = str(meta.get("MediaStorageSOPClassUID", "") if meta is not None else "")
    modality = str(ds.get("Modality", "") or "").strip().upper()
    for prefix, code, name in _NON_IMAGE_CLASSES:
        if sop_class.startswith(prefix) if sop_class else modality == code:
            return name
    return None


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
    pixel data element's start is truncated. Compressed (encapsulated) data declares the
    length of each of its fragments: a file that ends before the last fragment or before
    the end-of-data marker is truncated too."""
    have = header.size_bytes - pixel_offset
    if have <= 0:
        raise ReadError(path, "DICOM file without pixel data")
    if header.compressed:
        _check_fragments(path, pixel_offset, header.size_bytes)
        return
    if header.bits_allocated < 8:
        return
    needed = header.rows * header.cols * header.frames * header.samples * header.bits_allocated
    needed //= 8
    if have < needed + 8:  # + the element's tag and length
        raise ReadError(
            path, f"truncated: the pixel data needs {needed:,} bytes, the file has {have:,}"
        )


_ITEM = b"\xfe\xff\x00\xe0"  # (FFFE,E000) little endian: one fragment
_SEQUENCE_END = b"\xfe\xff\xdd\xe0"  # (FFFE,E0DD): the end of the pixel data
_PIXEL_DATA = b"\xe0\x7f\x10\x00"  # (7FE0,0010)


def _check_fragments(path: Path, offset: int, size: int) -> None:
    """Walk the encapsulated pixel data's item headers (8 bytes each, no pixel is read):
    a fragment running past the end of the file, or a missing end marker, is truncation."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            element = handle.read(12)
            if len(element) < 12 or element[:4] != _PIXEL_DATA:
                return  # not where pydicom said: leave the verdict to the decoder
            if int.from_bytes(element[8:12], "little") != 0xFFFFFFFF:
                return  # a defined length: not encapsulated after all
            position = offset + 12
            while True:
                handle.seek(position)
                item = handle.read(8)
                if len(item) < 8:
                    expected = position + 8
                    break
                length = int.from_bytes(item[4:8], "little")
                if item[:4] == _SEQUENCE_END:
                    return
                if item[:4] != _ITEM:
                    return  # unusual layout: the decoder will judge it
                position += 8 + length
                if position > size:
                    expected = position
                    break
    except OSError as exc:
        raise ReadError(path, f"cannot read ({exc.strerror})") from exc
    raise ReadError(
        path,
        f"truncated: the compressed pixel data needs at least {expected:,} bytes, "
        f"the file has {size:,}",
    )


def syntax_name(uid: str) -> str:
    try:
        from pydicom.uid import UID

        return UID(uid).name
    except Exception:
        return uid
