"""A DICOM series shown while it decodes: the slice on screen first, the rest around it.

:class:`ProgressiveSeries` decodes the *focus* slice (the one the view shows first: the
middle) in the calling thread, so a partial :class:`Image` is ready in the time of one slice,
then decodes the others on background threads, nearest to the focus first. Moving the focus
(the user scrolls to a slice not decoded yet) makes that slice the next one decoded.
:meth:`finish` turns the complete volume into the final Image (slice order checked against
the headers, warnings, geometry from every slice) without copying it.

The partial Image's geometry comes from the focus slice's header and the item's stored
spacing; its ``metadata["progressive"]`` is this object, which is how the view knows to show
decoded ranges and to wait for the whole volume before drawing coronal and sagittal planes.
No Qt here: the window polls :attr:`decoded` and :attr:`complete`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medview.core.image import Image
from medview.io import dicom, dicom_volume


class ProgressiveSeries:
    def __init__(
        self,
        paths: Sequence[str],
        name: str | Path | None = None,
        spacing: Sequence[float] | None = None,
    ) -> None:
        self.paths = [str(p) for p in paths]
        self.name = name or str(Path(self.paths[0]).parent)
        self._spacing_hint = tuple(float(s) for s in spacing) if spacing else None
        self.decoder = dicom_volume.SeriesDecoder(self.paths)
        self.image: Image | None = None
        self.final: Image | None = None  # set by finish()

    # ------------------------------------------------------------------ the first slice
    def start(
        self, focus: int | None = None, threads: int | None = None, background: bool = True
    ) -> Image | None:
        """Decode the focus slice here (the next nearest if it is damaged) and start the
        background decode (or leave that to :meth:`start_background`, so a window shows the
        slice before paying for thread start-up). Returns the partial Image, or None when
        this series needs the general path (multi-frame, colour, mixed sizes, nothing
        decodable)."""
        count = len(self.paths)
        focus = count // 2 if focus is None else int(np.clip(focus, 0, count - 1))
        decoder = self.decoder
        decoder.first_slice(focus)
        while decoder.volume is None and decoder.supported and not decoder.cancelled:
            index = decoder._take()  # the focus slice failed: its nearest neighbour
            if index is None:
                break
            decoder._cpu_only.add(index)  # shown at once, like the focus slice: no GPU probe
            decoder._decode_slot(index)
        first = next((h for h in decoder.headers if h is not None), None)
        if decoder.volume is None or not decoder.supported or first is None:
            decoder.cancel()
            return None
        if first.photometric == "MONOCHROME1":  # inverted over the whole volume's range
            decoder.cancel()
            return None
        self.image = self._partial_image(focus)
        if background:
            self.start_background(threads)
        return self.image

    def start_background(self, threads: int | None = None) -> None:
        if not self.decoder.cancelled and not self.decoder._threads:
            self.decoder.start_background(threads)

    def _partial_image(self, focus: int) -> Image:
        decoder = self.decoder
        assert decoder.volume is not None
        shown = next(
            i
            for i in sorted(range(len(self.paths)), key=lambda i: abs(i - focus))
            if decoder.state[i] == 1
        )
        header = decoder.headers[shown]
        assert header is not None
        row_mm, col_mm = header.pixel_spacing or (1.0, 1.0)
        z_mm = self._spacing_hint[0] if self._spacing_hint else header.slice_thickness or 1.0
        direction = np.eye(3)
        origin = (0.0, 0.0, 0.0)
        if header.orientation is not None:
            row = np.asarray(header.orientation[:3], dtype=float)
            col = np.asarray(header.orientation[3:], dtype=float)
            normal = np.cross(row, col)
            direction = np.column_stack([normal, col, row])
            position = header.frame_info[0].position
            if position is not None:
                origin = tuple(np.asarray(position, dtype=float) - shown * z_mm * normal)
        metadata: dict[str, Any] = {
            "format": "DICOM",
            "modality": header.modality,
            "series_description": header.series_description,
            "files": len(self.paths),
            "transfer_syntax": dicom.syntax_name(header.transfer_syntax),
            "progressive": self,
        }
        return Image(
            decoder.volume,
            spacing=(z_mm, row_mm, col_mm),
            origin=origin,
            direction=direction,
            metadata=metadata,
        )

    # ------------------------------------------------------------------ while it decodes
    @property
    def decoded(self) -> np.ndarray:
        """Per slice: True once decoded (a copy, safe to keep)."""
        return self.decoder.state == 1

    @property
    def done_count(self) -> int:
        return self.decoder.done_count

    @property
    def complete(self) -> bool:
        return self.decoder.complete and not self.decoder.cancelled

    @property
    def cancelled(self) -> bool:
        return self.decoder.cancelled

    def is_decoded(self, index: int) -> bool:
        return 0 <= index < len(self.paths) and self.decoder.state[index] == 1

    def focus(self, index: int) -> None:
        """The user looks at ``index`` now: decode it (and its neighbours) next."""
        self.decoder.focus(index)

    def cancel(self) -> None:
        self.decoder.cancel()

    def refresh(self) -> None:
        """Point the partial Image at the decoder's volume (it is replaced, once, when a
        slice needs a wider dtype)."""
        volume = self.decoder.volume
        if self.image is not None and volume is not None and self.image.array is not volume:
            self.image.array = volume

    # ------------------------------------------------------------------ the end
    def finish(self) -> Image:
        """The final Image once :attr:`complete` (call off the GUI thread: it checks slice
        order against every header, and may fall back to the general path)."""
        self.decoder.wait()
        image = dicom.finish_volume(self.decoder, self.name)
        if image is None:  # an odd series after all: the general path reads it again
            image = dicom.read_series(self.paths, name=self.name)
        self.final = image
        return image
