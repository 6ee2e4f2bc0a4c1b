"""The browser's data: one row per project item, a filter proxy, lazily made thumbnails.

Thumbnails are asked for only when a row is painted (the view asks for DecorationRole of
visible rows only), computed on a small thread pool and cached as QImage; the QPixmap is made
on the GUI thread when the result arrives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QThreadPool,
)
from PySide6.QtGui import QColor, QFont, QImage, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

from medview.core.key_slice_store import KeySlice
from medview.core.project import Item, Prediction, Project
from medview.ui import prob_column, workers

COLUMNS = (
    *("", "Name", "Type", "Shape", "Spacing"),
    *("Label", "Split", "Group", "Prediction", "P(class)", "Key slice"),
)  # COL_PROB's title names the class: P(MUT) (prob_header), never a bare "P" (a p-value)
COL_THUMB, COL_NAME, COL_KIND, COL_SHAPE, COL_SPACING, COL_LABEL = range(6)
COL_SPLIT, COL_GROUP, COL_PRED, COL_PROB, COL_KEY = range(6, 11)
_PLANES = ("axial", "coronal", "sagittal")
THUMB_SIZE = 48
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ITEM_ID_ROLE = Qt.ItemDataRole.UserRole + 2
_BROKEN = QImage()  # marks a thumbnail that failed, so it is not asked for again
UNSAVED_COLOR = "#c9302c"
_WARNING_ICON: QPixmap | None = None


def warning_icon() -> QPixmap:
    """The small mark beside an item whose reader left warnings. A 16 px pixmap, not a QIcon:
    the table's icon size is the thumbnails' 48 px, and a QIcon would be drawn that big."""
    global _WARNING_ICON
    if _WARNING_ICON is None:
        icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        _WARNING_ICON = icon.pixmap(16, 16)
    return _WARNING_ICON


def item_warnings(item: Item) -> list[str]:
    """What the importer's reader noted about an item (``meta["warnings"]``)."""
    found = item.meta.get("warnings") if isinstance(item.meta, dict) else None
    if isinstance(found, str):
        return [found]
    return [str(w) for w in found] if isinstance(found, list | tuple) else []


def _thumbnail_image(project: Project, item: Item) -> QImage:
    """Runs on a pool thread: numpy thumbnail -> QImage (QImage is safe off the GUI thread)."""
    from medview.io.thumbnails import thumbnail

    array = np.ascontiguousarray(thumbnail(project, item, size=128))
    if array.ndim == 3 and array.shape[2] == 1:
        array = np.ascontiguousarray(array[..., 0])
    height, width = array.shape[:2]
    if array.ndim == 2:
        fmt, stride = QImage.Format.Format_Grayscale8, width
    elif array.shape[2] == 4:
        fmt, stride = QImage.Format.Format_RGBA8888, width * 4
    else:
        array = np.ascontiguousarray(array[..., :3])
        fmt, stride = QImage.Format.Format_RGB888, width * 3
    return QImage(array.data, width, height, stride, fmt).copy()  # copy: own the pixels


def shape_text(item: Item) -> str:
    """ "64×64 RGB", "24×48×48": the size as a user reads it."""
    shape = list(item.shape[:3]) if item.kind == "3d" else list(item.shape[1:3])
    text = "×".join(str(s) for s in shape)
    channels = item.shape[3] if len(item.shape) > 3 else 1
    return f"{text} RGB" if channels in (3, 4) else text


def _spacing_text(item: Item) -> str:
    spacing = item.spacing[1:] if item.kind == "2d" else item.spacing
    return "×".join(f"{s:.3g}" for s in spacing)


class ItemTableModel(QAbstractTableModel):
    """One row per project item; rows are refreshed from the store after every change."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self._items: list[Item] = []
        self._rows: dict[int, int] = {}
        self._predictions: dict[int, Prediction] = {}
        self._prob_classes: list[str] = []  # the shown predictions' run's classes
        self._uncertain: set[int] = set()
        self._colors: dict[str, QColor] = {}
        self._thumbs: dict[int, QImage | QPixmap] = {}
        self._pending: set[int] = set()
        self._unsaved: dict[int, str | None] = {}  # item -> label not yet written
        self._unsaved_reason = ""
        self._warnings: dict[int, list[str]] = {}  # item -> what its last load reported
        self._keys: dict[int, KeySlice] = {}  # item -> its key slice (--slices key)
        self._sort: tuple[int, Qt.SortOrder] = (-1, Qt.SortOrder.AscendingOrder)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)  # leave cores for the viewer's own loading

    # ------------------------------------------------------------------ data in
    def set_project(self, project: Project | None) -> None:
        self.beginResetModel()
        self.project = project
        self._thumbs.clear()
        self._pending.clear()
        self._unsaved.clear()
        self._warnings.clear()
        self._load()
        self.endResetModel()

    def reload(self) -> None:
        """Re-read every item (after an import); thumbnails already made are kept."""
        self.beginResetModel()
        self._load()
        self.endResetModel()

    def _load(self) -> None:
        project = self.project
        self._items = project.items() if project else []
        self._predictions = project.predictions_in_view() if project else {}
        self._uncertain = most_uncertain(self._predictions)
        self._colors = {c.name: QColor(c.color) for c in project.classes()} if project else {}
        self._keys = project.key_slices() if project else {}
        self._apply_sort()

    # ------------------------------------------------------------------ sorting
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the rows here, with one key per row and Python's sort. (The proxy's own sort
        calls data() from C++ for every comparison: about 60,000 calls for 5,000 items,
        0.3-0.6 s per click on a header, measured by bench/scale.py; this takes a few ms.)
        Column -1 is import order. Rows do not jump when a label changes afterwards."""
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        old_ids = [item.id for item in self._items]
        persistent = self.persistentIndexList()
        self._apply_sort()
        moved = [
            self.index(self._rows[old_ids[i.row()]], i.column()) if i.isValid() else i
            for i in persistent
        ]
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    def _apply_sort(self) -> None:
        column, order = self._sort
        if column < 0:
            self._items.sort(key=lambda item: item.id)
        else:
            self._items.sort(
                key=lambda item: self._sort_key(item, column),
                reverse=order == Qt.SortOrder.DescendingOrder,
            )
        self._rows = {item.id: row for row, item in enumerate(self._items)}

    def refresh_classes(self) -> None:
        """After the label set changed (rename, recolour, remove): labels may have changed."""
        self.reload()

    def refresh_predictions(self) -> None:
        if self.project is None:
            return
        self.set_predictions(self.project.predictions_in_view())

    def set_predictions(self, predictions: dict[int, Prediction]) -> None:
        """Show predictions read elsewhere (the training dock reads them off the GUI thread)."""
        self._predictions = predictions
        self._uncertain = most_uncertain(self._predictions)
        self._prob_classes = prob_column.run_classes(self.project, predictions.values())
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, COL_PROB, COL_PROB)
        if self._items:
            last = len(self._items) - 1
            self.dataChanged.emit(self.index(0, COL_PRED), self.index(last, COL_PROB))

    def set_unsaved(self, unsaved: dict[int, str | None], reason: str = "") -> None:
        """Show these items' labels as waiting to be written (the label writer's queue)."""
        touched = set(unsaved) | set(self._unsaved)
        self._unsaved = dict(unsaved)
        self._unsaved_reason = reason
        for item_id in touched:
            row = self._rows.get(item_id)
            if row is not None:
                self.dataChanged.emit(self.index(row, COL_NAME), self.index(row, COL_LABEL))

    def has_keys(self) -> bool:
        """Whether any volume has a key slice (the browser then shows the column)."""
        return bool(self._keys)

    def is_unsaved(self, item_id: int) -> bool:
        return item_id in self._unsaved

    def set_warnings(self, item_id: int, warnings: list[str]) -> None:
        """What loading the item reported (missing slices, no pixel spacing, ...)."""
        self._warnings[item_id] = list(warnings)
        row = self._rows.get(item_id)
        if row is not None:
            index = self.index(row, COL_NAME)
            self.dataChanged.emit(index, index)

    def warnings(self, item: Item) -> list[str]:
        """The latest load's warnings, or the importer's until the item is loaded."""
        loaded = self._warnings.get(item.id)
        return loaded if loaded is not None else item_warnings(item)

    def refresh_items(self, item_ids: list[int]) -> None:
        if self.project is None:
            return
        self._keys = self.project.key_slices()
        for item in self.project.items(ids=item_ids):
            row = self._rows.get(item.id)
            if row is None:
                continue
            self._items[row] = item
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    # ------------------------------------------------------------------ lookups
    def item_at(self, row: int) -> Item:
        return self._items[row]

    def row_of(self, item_id: int) -> int | None:
        return self._rows.get(item_id)

    def items(self) -> list[Item]:
        return list(self._items)

    def prediction(self, item_id: int) -> Prediction | None:
        return self._predictions.get(item_id)

    def is_uncertain(self, item_id: int) -> bool:
        return item_id in self._uncertain

    def prob_header(self) -> str:
        return prob_column.header(self._prob_classes)

    def _prob(self, pred: Prediction) -> float:
        return prob_column.value(self._prob_classes, pred.probabilities)

    def class_color(self, name: str | None) -> QColor | None:
        return self._colors.get(name) if name else None

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.prob_header() if section == COL_PROB else COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return {
                COL_PROB: f"{self.prob_header()}: the run in view's probability (calibrated "
                "where it has a calibration; predictions.csv's p_<class>), not a p-value",
                COL_SPACING: "Voxel or pixel size in mm (z × y × x)",
                COL_SHAPE: "Size in voxels or pixels (z × y × x)",
                COL_GROUP: "Group or patient id: items of one group stay in the same fold",
                COL_KEY: "The slice marked for training (K in the slice view; --slices key)",
            }.get(section)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        item = self._items[index.row()]
        column = index.column()
        if role == ITEM_ID_ROLE:
            return item.id
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(item, column)
        if role == SORT_ROLE:
            return self._sort_key(item, column)
        if role == Qt.ItemDataRole.DecorationRole:
            if column == COL_THUMB:
                return self._thumbnail(item)
            if column == COL_NAME and self.warnings(item):
                return warning_icon()
            if column == COL_LABEL:
                if item.id in self._unsaved:
                    return None  # plain red text, not a chip: it is not a given label yet
                return self.class_color(item.label)
            if column == COL_PRED:
                pred = self._predictions.get(item.id)
                return self.class_color(pred.predicted) if pred else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(item)
        unsaved = item.id in self._unsaved
        if role == Qt.ItemDataRole.ForegroundRole and column == COL_LABEL and unsaved:
            return QColor(UNSAVED_COLOR)
        if role == Qt.ItemDataRole.FontRole and column == COL_LABEL and unsaved:
            font = QFont()
            font.setItalic(True)
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and column == COL_PRED:
            pred = self._predictions.get(item.id)
            if pred and item.label and pred.predicted and pred.predicted != item.label:
                return QColor("#d9534f")  # disagreement with the given label stands out
        return None

    def _display(self, item: Item, column: int) -> str | None:
        pred = self._predictions.get(item.id)
        if column == COL_NAME:
            return item.name
        if column == COL_KIND:
            return item.kind.upper()
        if column == COL_SHAPE:
            return shape_text(item)
        if column == COL_SPACING:
            return _spacing_text(item)
        if column == COL_LABEL:
            if item.id in self._unsaved:
                return f"⚠ {self._unsaved[item.id] or 'none'}"  # tooltip: "NOT SAVED ..."
            return item.label or ""
        if column == COL_SPLIT:
            return item.split or ""
        if column == COL_GROUP:
            return item.group or ""
        if column == COL_PRED:
            return (pred.predicted or "") if pred else ""
        if column == COL_PROB:
            return f"{self._prob(pred):.2f}" if pred and pred.probabilities else ""
        if column == COL_KEY:
            key = self._keys.get(item.id)
            return f"★ {_PLANES[key.axis]} {key.index + 1}" if key else ""
        return None

    def _tooltip(self, item: Item) -> str:
        lines = [item.name, item.path]
        if item.id in self._unsaved:
            label = self._unsaved[item.id] or "no label"
            saved = item.label or "none"
            lines.append(f"\nLabel {label} NOT SAVED (the project still says {saved})")
            if self._unsaved_reason:
                lines.append(self._unsaved_reason)
        warnings = self.warnings(item)
        if warnings:
            lines.append("\nWhen reading this item:")
            lines.extend(f"• {w}" for w in warnings)
        return "\n".join(lines)

    def _sort_key(self, item: Item, column: int) -> Any:
        if column == COL_THUMB:
            return item.id
        if column == COL_SHAPE:
            return int(np.prod(item.shape[:3]))
        if column == COL_PROB:
            pred = self._predictions.get(item.id)
            return self._prob(pred) if pred and pred.probabilities else -1.0
        text = self._display(item, column) or ""
        return text.lower()

    # ------------------------------------------------------------------ thumbnails
    def _thumbnail(self, item: Item) -> QPixmap | None:
        cached = self._thumbs.get(item.id)
        if isinstance(cached, QPixmap):
            return cached
        if cached is _BROKEN:
            return None
        if item.id not in self._pending and self.project is not None:
            self._pending.add(item.id)
            item_id = item.id
            workers.start(
                _thumbnail_image,
                self.project,
                item,
                on_done=lambda image, i=item_id: self._thumb_ready(i, image),
                on_error=lambda _exc, i=item_id: self._thumb_ready(i, _BROKEN),
                pool=self._pool,
            )
        return None

    def _thumb_ready(self, item_id: int, image: QImage) -> None:
        self._pending.discard(item_id)
        if image is _BROKEN or image.isNull():
            self._thumbs[item_id] = _BROKEN
            return
        pixmap = QPixmap.fromImage(image).scaled(
            THUMB_SIZE,
            THUMB_SIZE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self._thumbs[item_id] = pixmap
        row = self._rows.get(item_id)
        if row is not None:
            index = self.index(row, COL_THUMB)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def wait_for_thumbnails(self, msecs: int = 5000) -> bool:
        """For tests and benchmarks."""
        return self._pool.waitForDone(msecs)


def certainty(pred: Prediction) -> float:
    """0 when the classes tie, 1 when one class has all the probability (any class count)."""
    k = len(pred.probabilities)
    return (max(pred.probabilities) - 1 / k) / (1 - 1 / k) if k > 1 else 1.0


def most_uncertain(predictions: dict[int, Prediction], fraction: float = 0.2) -> set[int]:
    """The least certain ``fraction`` of predicted items (at least one): a share rather than a
    probability cut-off, so the filter shows something whatever the model's calibration."""
    scored = sorted((certainty(p), i) for i, p in predictions.items() if p.probabilities)
    keep = max(1, int(np.ceil(len(scored) * fraction))) if scored else 0
    return {i for _, i in scored[:keep]}


class ItemFilterProxy(QSortFilterProxyModel):
    """Text filter (name, group, label) plus one quick filter."""

    ALL, UNLABELLED, CLASS, DISAGREE = "all", "unlabelled", "class", "disagree"
    UNCERTAIN = "uncertain"
    IDS = "ids"  # an explicit list of items (a confusion cell, false positives, duplicates)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.text = ""
        self.mode = self.ALL
        self.class_name: str | None = None
        self.ids: dict[int, int] = {}  # IDS mode: item id -> rank (the order shown)
        self.ordered = False
        self.setSortRole(SORT_ROLE)

    def set_ids(self, ids: list[int], ordered: bool = False) -> None:
        """Show only ``ids``; ``ordered``: in this order (e.g. most confident first) rather
        than the table's sort."""
        self.mode, self.class_name = self.IDS, None
        self.ids = {int(i): k for k, i in enumerate(ids)}
        self.ordered = ordered
        self.invalidate()
        # The proxy sorts itself only for an explicit order; otherwise the source model does.
        QSortFilterProxyModel.sort(self, 0 if ordered else -1)

    def lessThan(
        self,
        left: QModelIndex | QPersistentModelIndex,
        right: QModelIndex | QPersistentModelIndex,
    ) -> bool:
        model: ItemTableModel = self.sourceModel()  # type: ignore[assignment]
        a, b = model.item_at(left.row()).id, model.item_at(right.row()).id
        return self.ids.get(a, 0) < self.ids.get(b, 0)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """The source model sorts (see ItemTableModel.sort); the proxy keeps its order and
        only filters, so filtering 5,000 rows does not sort them again either."""
        model = self.sourceModel()
        if model is not None:
            model.sort(column, order)

    # invalidate(), not invalidateFilter(): the latter emits one rowsRemoved/rowsInserted
    # per contiguous range, and each ran the browser's count update (two queries): the
    # "Unlabelled" filter over 5,000 alternating rows took 0.3 s. invalidate() emits one
    # layoutChanged and keeps the selection (persistent indexes).
    def set_text(self, text: str) -> None:
        self.text = text.strip().lower()
        self.invalidate()

    def set_quick(self, mode: str, class_name: str | None = None) -> None:
        self.mode, self.class_name = mode, class_name
        if self.ordered:
            self.ordered = False
            QSortFilterProxyModel.sort(self, -1)
        self.invalidate()

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:
        model: ItemTableModel = self.sourceModel()  # type: ignore[assignment]
        item = model.item_at(row)
        if self.mode == self.UNLABELLED and item.label is not None:
            return False
        if self.mode == self.CLASS and item.label != self.class_name:
            return False
        if self.mode == self.DISAGREE:
            pred = model.prediction(item.id)
            if not (pred and pred.predicted and item.label and pred.predicted != item.label):
                return False
        if self.mode == self.UNCERTAIN and not model.is_uncertain(item.id):
            return False
        if self.mode == self.IDS and item.id not in self.ids:
            return False
        if self.text:
            haystack = " ".join(filter(None, (item.name, item.group, item.label, item.split)))
            return self.text in haystack.lower()
        return True
