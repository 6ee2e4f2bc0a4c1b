"""The Grad-CAM overlay of the slice view: a second ImageItem with a heat colour map above
the image, following the slice, the plane and the mirroring of the image below.

The map is a (z, y, x) array on the item's own grid (training.gradcam resamples it), so each
plane is the same view into it that the slice view takes of the image, and the overlay
simply copies the image item's transform: nothing is resampled while scrolling.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QWidget

from medview.core.image import Image
from medview.ui import imaging
from medview.ui.slice_view import SliceView


def heat_lut() -> np.ndarray:
    """Transparent → red → orange → yellow, with alpha rising over the lower half, so weak
    saliency leaves the anatomy visible and strong saliency reads at a glance."""
    t = np.linspace(0.0, 1.0, 256)
    r = np.clip(0.6 + t, 0, 1)
    g = np.clip((t - 0.35) * 1.6, 0, 0.95)
    b = np.zeros_like(t)  # no white: the peak stays a colour, the anatomy under it visible
    a = np.clip((t - 0.25) / 0.45, 0, 1) * 0.9  # below a quarter of the peak: invisible
    return (np.stack([r, g, b, a], axis=1) * 255).astype(np.uint8)


class SaliencyOverlay(QObject):
    """Attach to a SliceView; ``set_map(item_id, volume)`` shows a map for that item."""

    visibilityChanged = Signal(bool)

    def __init__(self, view: SliceView, parent: QObject | None = None) -> None:
        super().__init__(parent or view)
        self.view = view
        self.item_id: int | None = None  # the item the map belongs to
        self.shown_item_id: int | None = None  # the item the view shows
        self.volume: np.ndarray | None = None
        self.enabled = True
        self.opacity = 0.6
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setLookupTable(heat_lut())
        self.item.setZValue(10)
        self.item.setOpacity(self.opacity)
        self.item.hide()
        view.viewbox.addItem(self.item)
        view.sliceChanged.connect(lambda *_: self.render())
        view.axisChanged.connect(lambda *_: self.render())

    # ------------------------------------------------------------------ state
    def set_map(self, item_id: int, volume: np.ndarray) -> None:
        self.item_id = item_id
        self.volume = np.asarray(volume, dtype=np.float32)
        self.render()

    def clear(self) -> None:
        self.item_id = None
        self.volume = None
        self.item.clear()
        self.item.hide()

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        self.render()
        self.visibilityChanged.emit(self.enabled)

    def toggle(self) -> None:
        self.set_enabled(not self.enabled)

    def set_opacity(self, value: float) -> None:
        self.opacity = float(np.clip(value, 0.0, 1.0))
        self.item.setOpacity(self.opacity)

    def matches(self, image: Image | None) -> bool:
        return (
            image is not None
            and self.volume is not None
            and tuple(self.volume.shape[:3]) == tuple(image.shape)
        )

    # ------------------------------------------------------------------ drawing
    def render(self, current_item_id: int | None = None) -> None:
        """Draw the plane the view shows; hidden when off, or for another item's map.
        ``current_item_id`` says which item the view now shows (the window passes it when an
        image arrives); slice and plane changes keep the last one."""
        if current_item_id is not None:
            self.shown_item_id = current_item_id
        image = self.view.image
        same_item = self.shown_item_id is None or self.shown_item_id == self.item_id
        if not (self.enabled and same_item and self.matches(image)):
            self.item.hide()
            return
        assert image is not None and self.volume is not None
        heat = Image(self.volume, image.spacing, image.origin, image.direction)
        plane, _ = imaging.raw_plane(heat, self.view.axis, self.view.index)
        self.item.setImage(plane, autoLevels=False, levels=(0.0, 1.0))
        # Same pixel grid as the image item below, so its transform (size in mm, mirroring)
        # places the map exactly.
        self.item.setTransform(self.view.image_item.transform())
        self.item.show()

    def plane_shape(self) -> tuple[int, ...] | None:
        data = self.item.image
        return None if data is None or not self.item.isVisible() else tuple(data.shape[:2])


class OverlayControls(QWidget):
    """On/off and opacity for the overlay."""

    def __init__(self, overlay: SaliencyOverlay, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.overlay = overlay
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.check = QCheckBox("Show overlay (G)")
        self.check.setChecked(overlay.enabled)
        self.check.toggled.connect(overlay.set_enabled)
        overlay.visibilityChanged.connect(self._sync)
        layout.addWidget(self.check)
        layout.addWidget(QLabel("Opacity"))
        self.slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.slider.setValue(int(overlay.opacity * 100))
        self.slider.setToolTip("Opacity of the Grad-CAM heat map")
        self.slider.valueChanged.connect(lambda v: overlay.set_opacity(v / 100))
        layout.addWidget(self.slider, 1)

    def _sync(self, on: bool) -> None:
        if self.check.isChecked() != on:
            self.check.blockSignals(True)
            self.check.setChecked(on)
            self.check.blockSignals(False)
