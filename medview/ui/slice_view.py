"""The centre view: one plane of a 2D image or 3D volume, scrolled, windowed and zoomed.

pyqtgraph's ImageItem draws the plane; the item's rectangle is the plane's size in mm, so an
anisotropic volume (2 mm slices, 0.7 mm pixels) keeps its true proportions with the view's
aspect locked at 1:1. Scrolling only swaps a numpy view into the ImageItem with fixed levels,
which keeps a slice change at a few milliseconds even for a 512×512×300 volume.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from medview.core.image import Image
from medview.ui import actions, imaging
from medview.ui.imaging import AUTO, AXES, COLORMAPS, FULL, PRESETS
from medview.ui.slice_progress import DecodedBar, ProgressiveDisplay
from medview.ui.slice_viewbox import SliceViewBox
from medview.ui.style import icon


class SliceView(ProgressiveDisplay, QWidget):
    """Shows an :class:`Image`; emits what the user changes.

    An image still decoding (``metadata["progressive"]``, see medview.io.dicom_progressive)
    is shown slice by slice as slices arrive: a bar under the slider shows the decoded
    ranges, scrolling to a slice not decoded yet makes it the next one decoded, and coronal
    and sagittal planes wait, saying so, until the whole volume is there."""

    sliceChanged = Signal(int)
    axisChanged = Signal(int)
    windowChanged = Signal(float, float)  # width, level (after a user change)
    cursorText = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: Image | None = None
        self.axis = 0
        self.index = 0
        self.width_level = (1.0, 0.5)
        self._indices = [0, 0, 0]  # remembered slice per axis
        self._plane_shape: tuple[int, ...] | None = None
        self._hover: tuple[int, int] | None = None  # (row, col) of the plane under the mouse
        self._drag_scale = 1.0  # intensity per pixel of right-drag
        self._wl_step, self._wl_decimals = 1e-6, 6  # the item's rounding (_set_drag_scale)
        self._auto_windows: dict[str, tuple[float, float]] = {}
        self.progressive = None  # the ProgressiveSeries of a partly decoded image
        self._waiting_text = ""  # the overlay while a plane waits for slices
        self._build()
        self._shortcuts()

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        self.axis_group = QButtonGroup(self)
        for number, name in enumerate(AXES):
            button = QToolButton(text=name.capitalize(), checkable=True, autoRaise=True)
            button.setToolTip(f"{name.capitalize()} plane ({name[0].upper()})")
            self.axis_group.addButton(button, number)
            bar.addWidget(button)
        self.axis_group.button(0).setChecked(True)
        self.axis_group.idClicked.connect(self.set_axis)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Window"))
        self.preset_box = QComboBox()
        self.preset_box.addItems([AUTO, FULL, *PRESETS])
        self.preset_box.insertSeparator(2)
        self.preset_box.setPlaceholderText("Custom")  # shown after a right-drag
        self.preset_box.setToolTip("Window/level presets; right-drag on the image adjusts it")
        self.preset_box.textActivated.connect(self.apply_preset)
        bar.addWidget(self.preset_box)
        bar.addWidget(QLabel("Colours"))
        self.cmap_box = QComboBox()
        self.cmap_box.addItems(COLORMAPS)
        self.cmap_box.currentTextChanged.connect(self.set_colormap)
        bar.addWidget(self.cmap_box)
        self.reset_button = QToolButton(autoRaise=True, icon=icon("reset_view"))
        self.reset_button.setToolTip("Fit the image to the view (Ctrl+0)")
        self.reset_button.clicked.connect(self.reset_zoom)
        bar.addWidget(self.reset_button)
        bar.addStretch(1)
        self.wl_label = QLabel()
        self.wl_label.setToolTip("Window width / level")
        bar.addWidget(self.wl_label)
        layout.addLayout(bar)

        self.graphics = pg.GraphicsView(background="k")
        self.viewbox = SliceViewBox()
        self.graphics.setCentralItem(self.viewbox)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setAutoDownsample(True)  # a 2000² slide in a small view stays fast
        self.viewbox.addItem(self.image_item)
        self.viewbox.sigWheelSteps.connect(self.step)
        self.viewbox.sigWindowDrag.connect(self._drag_window)
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)
        self.graphics.setMinimumSize(200, 200)
        layout.addWidget(self.graphics, 1)

        # The overlay says "Loading…" or why an image cannot be shown, over the view.
        self.overlay = QLabel(self.graphics)
        self.overlay.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.overlay.setWordWrap(True)
        self.overlay.setStyleSheet(
            "QLabel { color: #f0f0f0; background: rgba(20, 20, 20, 190); padding: 12px;"
            " border-radius: 6px; font-size: 14px; }"
        )
        self.overlay.hide()
        # Orientation letters (R/L, A/P, S/I) at the edges, fixed in screen space.
        self.edge_marks = []
        for _ in range(4):
            mark = QLabel(self.graphics)
            mark.setStyleSheet(
                "QLabel { color: #ffd54f; font-weight: 600; background: transparent; }"
            )
            mark.hide()
            self.edge_marks.append(mark)
        self._busy_timer = QTimer(self, singleShot=True, interval=150)
        self._busy_timer.timeout.connect(lambda: self._show_overlay("Loading…"))

        bottom = QHBoxLayout()
        bottom.setContentsMargins(4, 0, 4, 2)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Slice (mouse wheel, PageUp/PageDown)")
        self.slider.valueChanged.connect(self.set_slice)
        bottom.addWidget(self.slider, 1)
        self.slice_label = QLabel("–")
        self.slice_label.setMinimumWidth(90)
        self.slice_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bottom.addWidget(self.slice_label)
        layout.addLayout(bottom)
        self.decoded_bar = DecodedBar()
        self.decoded_bar.hide()
        layout.addWidget(self.decoded_bar)
        self._progress_timer = QTimer(self, interval=60)
        self._progress_timer.timeout.connect(self._progress_tick)
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setContentsMargins(6, 0, 6, 2)
        self.readout.setToolTip(
            "Under the cursor: voxel index (x, y, z; from 1, as the slider), position in mm "
            "in patient coordinates (x, y, z; DICOM LPS: towards the patient's left, "
            "posterior, superior) and value"
        )
        layout.addWidget(self.readout)
        self._update_controls()

    def _shortcuts(self) -> None:
        # The keys are declared with the window's other actions (medview.ui.actions).
        bindings = {
            "view.slice.previous": lambda: self.step(-1),
            "view.slice.next": lambda: self.step(1),
            "view.slice.back10": lambda: self.step(-10),
            "view.slice.on10": lambda: self.step(10),
            "view.axis.axial": lambda: self.set_axis(0),
            "view.axis.coronal": lambda: self.set_axis(1),
            "view.axis.sagittal": lambda: self.set_axis(2),
            "view.fit": self.reset_zoom,
        }
        self._shortcut_objects = [
            shortcut
            for action_id, slot in bindings.items()
            for shortcut in actions.bind(self, action_id, slot)
        ]

    # ------------------------------------------------------------------ showing an image
    def set_loading(self, loading: bool) -> None:
        """Busy indicator, shown only if loading takes long enough to notice (no flicker)."""
        if loading:
            self._busy_timer.start()
        else:
            self._busy_timer.stop()
            self.overlay.hide()

    def show_message(self, text: str) -> None:
        """Replace the image with a message (a file that cannot be read, nothing selected)."""
        self._busy_timer.stop()
        self.image = None
        self.image_item.clear()
        self._plane_shape = None
        self._update_controls()
        self._update_edge_marks()
        self._show_overlay(text)

    def _show_overlay(self, text: str) -> None:
        self.overlay.setText(text)
        self._place_overlay()
        self.overlay.show()
        self.overlay.raise_()

    def _place_overlay(self) -> None:
        area = self.graphics.rect()
        width = min(area.width() - 20, 460)
        self.overlay.setFixedWidth(max(width, 100))
        self.overlay.adjustSize()
        x = (area.width() - self.overlay.width()) // 2
        self.overlay.move(x, (area.height() - self.overlay.height()) // 2)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.overlay.isVisible():
            self._place_overlay()
        self._place_edge_marks()

    def _update_edge_marks(self) -> None:
        labels = imaging.edge_labels(self.image, self.axis) if self.image is not None else None
        for mark, text in zip(self.edge_marks, labels or ("",) * 4, strict=True):
            mark.setText(text)
            mark.adjustSize()
            mark.setVisible(bool(text))
        self._place_edge_marks()

    def _place_edge_marks(self) -> None:
        area = self.graphics.rect()
        left, right, top, bottom = self.edge_marks
        middle_y = (area.height() - left.height()) // 2
        left.move(6, middle_y)
        right.move(area.width() - right.width() - 6, middle_y)
        top.move((area.width() - top.width()) // 2, 4)
        bottom.move((area.width() - bottom.width()) // 2, area.height() - bottom.height() - 4)

    def set_image(self, image: Image | None, window: tuple[float, float] | None = None) -> None:
        """Show ``image`` at its middle slice; ``window`` overrides the default window/level."""
        self._busy_timer.stop()
        self.overlay.hide()
        self._waiting_text = ""
        self.image = image
        self._hover = None
        self.readout.setText(" ")  # the old readout described the previous image
        self.progressive = image.metadata.get("progressive") if image is not None else None
        if self.progressive is not None and self.progressive.final is not None:
            self.image = image = self.progressive.final  # completed before it was shown
            self.progressive = None
        if self.progressive is None:
            self._progress_timer.stop()
            self.decoded_bar.hide()
        if image is None:
            self.image_item.clear()
            self._plane_shape = None
            self._update_controls()
            self._update_edge_marks()
            return
        if image.kind == "2d":
            self.axis = 0
        self._indices = [n // 2 for n in image.shape]
        self.index = self._indices[self.axis]
        # Computed once per image: presets and the drag speed compare against these.
        sample = image
        if self.progressive is not None:
            # Only decoded slices say anything about the window: the one shown first.
            sample = self._decoded_sample(image)
        self._auto_windows = {
            AUTO: imaging.percentile_window(sample),
            FULL: imaging.full_window(sample),
        }
        self.width_level = window or imaging.default_window(sample, self._auto_windows[AUTO])
        self._set_drag_scale(image)
        self._sync_preset_box()
        self._update_controls()
        if self.progressive is not None:
            self.progressive.focus(self.index)
            self.decoded_bar.set_decoded(self.progressive.decoded)
            self.decoded_bar.setVisible(self.axis == 0)
            self._progress_timer.start()
        self._render(fit=True)

    # ------------------------------------------------------------------ navigation
    def set_axis(self, axis: int) -> None:
        if self.image is None or self.image.kind == "2d" or axis not in (0, 1, 2):
            self.axis_group.button(self.axis).setChecked(True)
            return
        if axis == self.axis:
            return
        self._indices[self.axis] = self.index
        self._hover = None
        self.readout.setText(" ")
        self.axis = axis
        self.index = self._indices[axis]
        self._update_controls()
        self.decoded_bar.setVisible(self.progressive is not None and axis == 0)
        self._render(fit=True)
        self.axisChanged.emit(axis)

    def set_slice(self, index: int) -> None:
        if self.image is None:
            return
        index = int(np.clip(index, 0, imaging.axis_length(self.image, self.axis) - 1))
        if index == self.index and self._plane_shape is not None:
            return
        self.index = index
        if self.progressive is not None and self.axis == 0:
            self.progressive.focus(index)  # a slice not decoded yet is decoded next
        self._render()
        if self.slider.value() != index:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        self._update_slice_label()
        self._update_readout()
        self.sliceChanged.emit(index)

    def step(self, delta: int) -> None:
        self.set_slice(self.index + int(delta))

    def reset_zoom(self) -> None:
        if self._plane_shape is not None:
            self.viewbox.autoRange(padding=0.02)

    # ------------------------------------------------------------------ window/level, colours
    def set_window(self, width: float, level: float) -> None:
        self.width_level = (max(float(width), self._wl_step), float(level))
        self._apply_levels()

    def _set_drag_scale(self, image: Image) -> None:
        """Right-drag moves the window by the item's intensity range, as 3D Slicer does (a
        floor of 1/400 per pixel made an 80-pixel drag on a 0..1 image give "W 1e-06")."""
        span = self._auto_windows[FULL][0]
        self._drag_scale = span / imaging.DRAG_SPAN_PIXELS
        self._wl_step, self._wl_decimals = imaging.window_rounding(image, span)

    def window_text(self) -> str:
        """ "W 400  L 40": the window rounded to the item's step."""
        d = self._wl_decimals
        return f"W {self.width_level[0]:.{d}f}  L {self.width_level[1]:.{d}f}"

    def _sync_preset_box(self) -> None:
        """Name the preset the current window matches ("Custom" when none does)."""
        candidates = {**PRESETS, **self._auto_windows}
        for name, window in candidates.items():
            if np.allclose(window, self.width_level):
                self.preset_box.setCurrentIndex(self.preset_box.findText(name))
                return
        self.preset_box.setCurrentIndex(-1)

    def levels(self) -> tuple[float, float]:
        width, level = self.width_level
        return level - width / 2, level + width / 2

    def apply_preset(self, name: str) -> None:
        if self.image is None:
            return
        if name in self._auto_windows:
            window = self._auto_windows[name]
        elif name in PRESETS:
            window = PRESETS[name]
        else:
            return
        index = self.preset_box.findText(name)
        if index >= 0:
            self.preset_box.setCurrentIndex(index)
        self.set_window(*window)
        self.windowChanged.emit(*self.width_level)

    def _drag_window(self, dx: float, dy: float) -> None:
        if self.image is None:
            return
        width, level = self.width_level
        # Right = wider (less contrast); up = brighter, which lowers the level (the centre of
        # the window): screen y grows downwards, so moving up (dy < 0) lowers it. The values
        # are rounded to the step shown, so what is shown is what is applied.
        step = self._wl_step
        width = round((width + dx * self._drag_scale) / step) * step
        level = round((level + dy * self._drag_scale) / step) * step
        self.set_window(width, level)
        self.preset_box.setCurrentIndex(-1)
        self.windowChanged.emit(*self.width_level)

    def set_colormap(self, name: str) -> None:
        if name not in COLORMAPS:
            name = COLORMAPS[0]
        if self.cmap_box.currentText() != name:
            self.cmap_box.setCurrentText(name)
        if self.image is None or not self.image.is_rgb:  # colour images keep their colours
            self.image_item.setLookupTable(imaging.colormap_lut(name))

    def _apply_levels(self) -> None:
        if self.image is not None and self._plane_shape is not None:
            self.image_item.setLevels(self.levels())
        self.wl_label.setText(self.window_text())

    # ------------------------------------------------------------------ drawing
    def _render(self, fit: bool = False) -> None:
        assert self.image is not None
        waiting = self._waiting_for_slices()
        if waiting != self._waiting_text:
            self._waiting_text = waiting
            if waiting:
                self._show_overlay(waiting)
            else:
                self.overlay.hide()
        elif waiting:
            self.overlay.setText(waiting)
        if waiting and self.axis != 0:
            self.image_item.clear()  # a coronal/sagittal plane of a partial volume misleads
            self._plane_shape = None
            return
        data, (row_mm, col_mm) = imaging.raw_plane(self.image, self.axis, self.index)
        self.image_item.setImage(data, autoLevels=False, levels=self.levels())
        if fit or data.shape[:2] != self._plane_shape:
            self._update_edge_marks()
            self._plane_shape = data.shape[:2]
            rows, cols = data.shape[:2]
            # Mirroring for display (radiological orientation) is a negative extent of the
            # item's rectangle: no pixel is copied while scrolling.
            flip_rows, flip_cols = imaging.flips(self.image, self.axis)
            width, height = cols * col_mm, rows * row_mm
            self.image_item.setRect(
                QRectF(
                    width if flip_cols else 0.0,
                    height if flip_rows else 0.0,
                    -width if flip_cols else width,
                    -height if flip_rows else height,
                )
            )
            self.viewbox.autoRange(padding=0.02)
        self.wl_label.setText(self.window_text())

    def _update_controls(self) -> None:
        image = self.image
        is_volume = image is not None and image.kind == "3d"
        for number in range(3):
            self.axis_group.button(number).setEnabled(is_volume)
        self.axis_group.button(self.axis).setChecked(True)
        self.slider.setVisible(is_volume)  # a 2D image has nothing to scroll
        self.preset_box.setEnabled(image is not None)
        self.cmap_box.setEnabled(image is not None and not image.is_rgb)
        self.slider.blockSignals(True)
        if image is not None:
            self.slider.setRange(0, imaging.axis_length(image, self.axis) - 1)
            self.slider.setValue(self.index)
        else:
            self.slider.setRange(0, 0)
        self.slider.blockSignals(False)
        if image is not None and image.is_rgb:
            self.image_item.setLookupTable(None)
        else:
            self.image_item.setLookupTable(imaging.colormap_lut(self.cmap_box.currentText()))
        self._update_slice_label()

    def _update_slice_label(self) -> None:
        if self.image is None:
            self.slice_label.setText("–")
        elif self.image.kind == "2d":
            self.slice_label.setText("2D image")
        else:
            total = imaging.axis_length(self.image, self.axis)
            self.slice_label.setText(f"{AXES[self.axis]} {self.index + 1} / {total}")

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        if self.image is None or self._plane_shape is None:
            return
        point = self.image_item.mapFromScene(scene_pos)
        col, row = int(np.floor(point.x())), int(np.floor(point.y()))
        rows, cols = self._plane_shape
        inside = 0 <= row < rows and 0 <= col < cols
        self._hover = (row, col) if inside else None
        self._update_readout()

    def _update_readout(self) -> None:
        """The pixel under the mouse, again after each slice change (it went stale: "z 12 …
        value 169" while slice 10 was shown)."""
        if self.image is None or self._hover is None or self._plane_shape is None:
            self.readout.setText(" ")
            return
        text = imaging.readout_text(self.image, self.axis, self.index, *self._hover,
                                    self.progressive)  # fmt: skip
        self.readout.setText(text)
        self.cursorText.emit(text)
