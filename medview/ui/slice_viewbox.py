"""The slice view's mouse: the wheel scrolls slices (Ctrl+wheel zooms), a right-drag sets
window/level (medview.ui.slice_view scales it to the item's intensity range)."""

from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseDragEvent
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGraphicsSceneWheelEvent


class SliceViewBox(pg.ViewBox):
    """Wheel scrolls slices (Ctrl+wheel zooms); right-drag sets window/level."""

    sigWheelSteps = Signal(int)
    sigWindowDrag = Signal(float, float)  # dx, dy in screen pixels

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._wheel_rest = 0.0

    def wheelEvent(self, ev: QGraphicsSceneWheelEvent, axis: int | None = None) -> None:
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
            return
        # Touchpads send small deltas: accumulate to whole notches (120 units each).
        self._wheel_rest += ev.delta() / 120.0
        steps = int(self._wheel_rest)
        self._wheel_rest -= steps
        if steps:
            self.sigWheelSteps.emit(steps)
        ev.accept()

    def mouseDragEvent(self, ev: MouseDragEvent, axis: int | None = None) -> None:
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            delta = ev.screenPos() - ev.lastScreenPos()
            self.sigWindowDrag.emit(delta.x(), delta.y())
            return
        super().mouseDragEvent(ev, axis)
