"""Saving a pyqtgraph plot as PNG or SVG (the live plots, the run comparison)."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from pyqtgraph import exporters
from PySide6.QtWidgets import QToolButton, QWidget


def save_plot(widget: pg.PlotWidget, path: str | Path) -> Path:
    """PNG (at 2x for print) or SVG, by the file's suffix."""
    path = Path(path)
    item = widget.getPlotItem()
    if path.suffix.lower() == ".svg":
        try:
            exporters.SVGExporter(item).export(str(path))
        except (ValueError, IndexError):
            # pyqtgraph 0.14's SVG exporter cannot parse the path syntax newer Qt writes;
            # Qt's own SVG generator draws the same scene (as vectors).
            _render_svg(widget, path)
    else:
        exporter = exporters.ImageExporter(item)
        exporter.parameters()["width"] = max(800, int(item.width() * 2))
        exporter.export(str(path if path.suffix else path.with_suffix(".png")))
    return path


def _render_svg(widget: QWidget, path: Path) -> None:
    from PySide6.QtCore import QRect, QSize
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    generator = QSvgGenerator()
    generator.setFileName(str(path))
    size = widget.size()
    generator.setSize(QSize(size.width(), size.height()))
    generator.setViewBox(QRect(0, 0, size.width(), size.height()))
    generator.setTitle(
        widget.getPlotItem().titleLabel.text if hasattr(widget, "getPlotItem") else ""
    )
    buttons = [b for b in widget.findChildren(QToolButton) if b.isVisible()]
    for button in buttons:  # the Save… button is not part of the figure
        button.hide()
    painter = QPainter(generator)
    try:
        widget.render(painter)
    finally:
        painter.end()
        for button in buttons:
            button.show()
