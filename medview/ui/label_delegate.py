"""Paints a class name as a small rounded chip in the class colour (label, prediction)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from medview.ui.style import text_color_on


class LabelChipDelegate(QStyledItemDelegate):
    """The model gives the class colour as DecorationRole; we draw it as the chip's fill."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        color = index.data(Qt.ItemDataRole.DecorationRole)
        text = index.data(Qt.ItemDataRole.DisplayRole) or ""
        if not isinstance(color, QColor) or not text:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        opt.icon = opt.icon.__class__()  # no icon: the chip is the colour
        opt.features &= ~QStyleOptionViewItem.ViewItemFeature.HasDecoration
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)

        metrics = option.fontMetrics
        width = min(metrics.horizontalAdvance(text) + 16, option.rect.width() - 6)
        height = metrics.height() + 6
        rect = QRectF(
            option.rect.left() + 4,
            option.rect.center().y() - height / 2 + 1,
            max(width, 10),
            height,
        )
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(rect, height / 2, height / 2)
        foreground = index.data(Qt.ItemDataRole.ForegroundRole)
        painter.setPen(QColor(text_color_on(color.name())))
        font = option.font
        font.setBold(True)
        if isinstance(foreground, QColor):  # a disagreement with the label: mark it
            font.setUnderline(True)
        painter.setFont(font)
        elided = metrics.elidedText(text, Qt.TextElideMode.ElideRight, int(rect.width()) - 10)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, elided)
        painter.restore()
