"""Saving a pyqtgraph plot as PNG or SVG (the live plots, the run comparison)."""

from __future__ import annotations

import contextlib
import importlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from pyqtgraph import exporters

from medview.core.containment import copy_regular_file


def save_plot(widget: pg.PlotWidget, path: str | Path) -> Path:
    """PNG (at 2x for print) or SVG, by the file's suffix. Drawn into a private scratch
    folder, then renamed into place whole: the exporters open the path they are given and
    would write through a link planted there (containment.atomic_file refuses it)."""
    path = Path(path)
    if path.suffix.lower() != ".svg" and not path.suffix:
        path = path.with_suffix(".png")
    with tempfile.TemporaryDirectory(prefix="medview-plot-") as scratch:
        drawn = Path(scratch) / f"plot{path.suffix}"
        _draw(widget, drawn)
        if not copy_regular_file(drawn, path):
            raise OSError(f"{path}: the plot could not be drawn")
    return path


def _draw(widget: pg.PlotWidget, path: Path) -> None:
    item = widget.getPlotItem()
    if path.suffix.lower() == ".svg":
        try:
            with _closed_paths_tolerated():
                exporters.SVGExporter(item).export(str(path))
        except (ValueError, IndexError):
            # The exporter met path syntax it cannot parse: Qt's own SVG generator draws the
            # same scene (axes may sit slightly off, but nothing is lost).
            _render_svg(widget, path)
    else:
        exporter = exporters.ImageExporter(item)
        exporter.parameters()["width"] = max(800, int(item.width() * 2))
        exporter.export(str(path))


@contextlib.contextmanager
def _closed_paths_tolerated() -> Iterator[None]:
    """pyqtgraph 0.14's SVG exporter reads path data as "x,y" tokens, but Qt 6.11 ends closed
    paths with a lone "Z" and the exporter fails. Qt writes the closing point explicitly
    before the Z (".. L0,0 Z"), so dropping the token changes nothing drawn."""
    module = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    original = module.correctCoordinates

    def tolerant(node: Any, defs: Any, item: Any, options: Any) -> Any:
        for element in node.getElementsByTagName("path"):
            data = element.getAttribute("d")
            if data.rstrip().endswith("Z") or " Z " in data:
                cleaned = " ".join(t for t in data.split() if t not in ("Z", "z"))
                element.setAttribute("d", cleaned)
        return original(node, defs, item, options)

    module.correctCoordinates = tolerant
    try:
        yield
    finally:
        module.correctCoordinates = original


def _render_svg(widget: pg.PlotWidget, path: Path) -> None:
    from PySide6.QtCore import QRectF, QSize
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    # The plot's own rectangle of the scene, like pyqtgraph's exporters (rendering the view
    # widget instead misplaces items under the SVG paint engine). The Save… button is a
    # widget, not a scene item, so it is never drawn.
    item = widget.getPlotItem()
    source = item.sceneBoundingRect()
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(QSize(int(source.width()), int(source.height())))
    generator.setViewBox(QRectF(0, 0, source.width(), source.height()))
    generator.setTitle(path.stem)
    painter = QPainter(generator)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        widget.scene().render(painter, QRectF(0, 0, source.width(), source.height()), source)
    finally:
        painter.end()
