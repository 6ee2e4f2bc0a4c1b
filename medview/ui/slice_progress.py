"""The slice view's side of a series still decoding (medview.io.dicom_progressive).

:class:`DecodedBar` draws the decoded ranges under the slider; :class:`ProgressiveDisplay`
holds the slice view's methods for a partial volume (the window from decoded slices only,
the timer that picks up new slices and the final Image, what a plane is waiting for). It is
mixed into :class:`medview.ui.slice_view.SliceView`, which owns the widgets it uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

from medview.core.image import Image
from medview.ui.imaging import AXES


class DecodedBar(QWidget):
    """A thin bar under the slider: which slices of a series being decoded are ready."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedHeight(4)
        self.decoded: np.ndarray = np.zeros(0, dtype=bool)
        self.setToolTip("Decoded slices (the rest are decoding in the background)")

    def set_decoded(self, decoded: np.ndarray) -> None:
        if decoded.shape != self.decoded.shape or not np.array_equal(decoded, self.decoded):
            self.decoded = decoded.copy()
            self.update()

    def ranges(self) -> list[tuple[int, int]]:
        """Decoded runs as (first, last) slice indices."""
        flags = np.concatenate([[False], self.decoded, [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(flags))
        return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(60, 60, 60))
        count = len(self.decoded)
        if count:
            width = self.width()
            for first, last in self.ranges():
                x0 = int(first * width / count)
                x1 = max(x0 + 1, int((last + 1) * width / count))
                painter.fillRect(x0, 0, x1 - x0, self.height(), QColor(79, 195, 247))
        painter.end()


class ProgressiveDisplay:
    """Mixin: needs ``image``, ``axis``, ``index``, ``progressive``, ``decoded_bar``,
    ``_progress_timer``, ``_waiting_text``, ``_render`` and ``_update_controls``."""

    image: Image | None
    axis: int
    index: int
    progressive: Any
    decoded_bar: DecodedBar
    _progress_timer: Any
    _waiting_text: str

    def _decoded_sample(self, image: Image) -> Image:
        decoded = np.flatnonzero(self.progressive.decoded)
        nearest = int(decoded[np.argmin(np.abs(decoded - self.index))]) if decoded.size else 0
        return Image(image.array[nearest : nearest + 1], metadata=image.metadata)

    def _progress_tick(self) -> None:
        """Timer while a series decodes: new slices, the decoded bar, the final Image."""
        series = self.progressive
        if series is None or self.image is None:
            self._progress_timer.stop()
            return
        if series.final is not None:  # complete: the final Image takes over, same place
            self.image = series.final
            self.progressive = None
            self._progress_timer.stop()
            self.decoded_bar.hide()
            self._update_controls()
            self._render(fit=self.axis != 0)
            return
        if series.cancelled:
            self._progress_timer.stop()
            return
        series.refresh()
        self.decoded_bar.set_decoded(series.decoded)
        if self._waiting_text:
            self._render(fit=self.axis != 0)

    def is_waiting(self) -> bool:
        """True while the plane on screen waits for slices still decoding."""
        return bool(self._waiting_text)

    def _waiting_for_slices(self) -> str:
        series = self.progressive
        if series is None:
            return ""
        total = len(series.paths)
        if self.axis != 0:
            return (
                f"{AXES[self.axis].capitalize()} view: waiting for the whole series "
                f"({series.done_count} / {total} slices decoded)"
            )
        if not series.is_decoded(self.index):
            return f"Decoding slice {self.index + 1}…"
        return ""
