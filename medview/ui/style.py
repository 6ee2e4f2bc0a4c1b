"""Look and feel: Fusion style, a palette that follows the system light/dark scheme, icons."""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication


def resources_dir() -> Path:
    """``resources/`` beside the package in a checkout, or inside a PyInstaller bundle."""
    candidates = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "resources")
    here = Path(__file__).resolve()
    candidates += [here.parents[2] / "resources", here.parents[1] / "resources"]
    for candidate in candidates:
        if (candidate / "icons").is_dir():
            return candidate
    return candidates[-1]


@cache
def icon(name: str) -> QIcon:
    """An SVG icon from resources/icons (an empty icon if it is missing: never fatal)."""
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def prepare_high_dpi() -> None:
    """Call before the QApplication exists: fractional scale factors (150 %, 175 %) are used
    as they are instead of being rounded, so text and thumbnails stay crisp."""
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )


def is_dark(app: QApplication | None = None) -> bool:
    """Follow the system scheme; ``MEDVIEW_THEME=dark|light`` overrides it."""
    forced = os.environ.get("MEDVIEW_THEME", "").lower()
    if forced in ("dark", "light"):
        return forced == "dark"
    app = app or QApplication.instance()  # type: ignore[assignment]
    hints = app.styleHints() if app else None
    if hints is not None and hasattr(hints, "colorScheme"):
        scheme = hints.colorScheme()
        if scheme != Qt.ColorScheme.Unknown:
            return scheme == Qt.ColorScheme.Dark
    # No scheme reported (offscreen, old desktops): judge by the window colour.
    return bool(app) and app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def _dark_palette() -> QPalette:
    palette = QPalette()
    base, window, text = QColor("#1e1f22"), QColor("#2b2d31"), QColor("#e6e6e6")
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor("#26282c"),
        QPalette.ColorRole.ToolTipBase: window,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor("#36383d"),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor("#ff6b6b"),
        QPalette.ColorRole.Link: QColor("#6ea8fe"),
        QPalette.ColorRole.Highlight: QColor("#3d6fd1"),
        QPalette.ColorRole.HighlightedText: QColor("#ffffff"),
        QPalette.ColorRole.PlaceholderText: QColor("#8b8e94"),
    }
    for role, color in roles.items():
        palette.setColor(role, color)
    Role = QPalette.ColorRole
    disabled = (Role.Text, Role.ButtonText, Role.WindowText)
    for role in disabled:
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7d83"))
    return palette


def apply_style(app: QApplication) -> None:
    """Fusion everywhere (same look on Windows, macOS and Linux), dark when the system is."""
    app.setStyle("Fusion")
    app.setWindowIcon(icon("medview"))

    def follow_scheme() -> None:
        if is_dark(app):
            app.setPalette(_dark_palette())
        else:
            app.setPalette(app.style().standardPalette())

    follow_scheme()
    hints = app.styleHints()
    if hasattr(hints, "colorSchemeChanged"):
        hints.colorSchemeChanged.connect(lambda *_: follow_scheme())
    qss = resources_dir() / "medview.qss"
    if qss.is_file():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))


def text_color_on(background: str) -> str:
    """Black or white, whichever reads better on a class colour."""
    color = QColor(background)
    luminance = 0.299 * color.red() + 0.587 * color.green() + 0.114 * color.blue()
    return "#000000" if luminance > 150 else "#ffffff"
