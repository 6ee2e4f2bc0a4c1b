"""The item browser (left dock): filter bar, a sortable table with thumbnails, and the
count per class, always visible."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from medview.core.project import Project
from medview.ui.browser_model import (  # noqa: F401 (re-exported for the window and tests)
    COL_GROUP,
    COL_KEY,
    COL_KIND,
    COL_LABEL,
    COL_NAME,
    COL_PRED,
    COL_PROB,
    COL_SHAPE,
    COL_SPACING,
    COL_SPLIT,
    COL_THUMB,
    COLUMNS,
    ITEM_ID_ROLE,
    THUMB_SIZE,
    ItemFilterProxy,
    ItemTableModel,
    shape_text,
)
from medview.ui.label_delegate import LabelChipDelegate
from medview.ui.message_bar import MessageBar


class BrowserWidget(QWidget):
    """Filter bar, table and the always-visible count per class."""

    currentItemChanged = Signal(object)  # item id or None
    selectionChanged = Signal(list)  # selected item ids

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ItemTableModel(self)
        # Quick filters others provide (duplicates, a run's errors): key -> (title, provider
        # returning (item ids, keep that order)). See add_id_filter / show_ids.
        self.id_filters: dict[str, tuple[str, Callable[[], tuple[list[int], bool]]]] = {}
        self._shown_ids: tuple[str, list[int], bool] | None = None  # a one-off list (a cell)
        self.proxy = ItemFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._build()
        # "N shown" follows the filters.
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset):
            signal.connect(lambda *_: self.update_counts())
        self.proxy.layoutChanged.connect(lambda *_: self.update_counts())

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        bar = QHBoxLayout()
        self.filter_edit = QLineEdit(placeholderText="Filter by name, group, label…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        bar.addWidget(self.filter_edit, 1)
        self.quick_box = QComboBox()
        self.quick_box.setToolTip("Show only…")
        self.quick_box.currentIndexChanged.connect(self._quick_changed)
        bar.addWidget(self.quick_box)
        layout.addLayout(bar)
        # "N new items hidden by the filter — Show": an import under a filter looked failed.
        self.hidden_bar = MessageBar("hiddenItemsBar")
        layout.addWidget(self.hidden_bar)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # import order until asked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(THUMB_SIZE + 4)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_THUMB, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(COL_THUMB, THUMB_SIZE + 8)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(COL_NAME, 150)
        widths = {COL_KIND: 38, COL_SHAPE: 96, COL_SPACING: 70, COL_LABEL: 80}
        for column, width in widths.items():
            header.resizeSection(column, width)
        header.setStretchLastSection(False)
        # What a labeller looks at (label, prediction, probability) comes right after the
        # name, so it stays visible when the items panel is narrow; geometry follows.
        # The Key slice column (slice mode) follows them, shown once a volume has one.
        moved = (COL_LABEL, COL_PRED, COL_PROB, COL_KEY)
        for position, column in enumerate(moved, start=COL_NAME + 1):
            header.moveSection(header.visualIndex(column), position)
        self.table.setColumnHidden(COL_KEY, True)
        self.fit_probability_column()
        self.model.headerDataChanged.connect(lambda *_: self.fit_probability_column())
        for signal in (self.model.modelReset, self.model.dataChanged):
            signal.connect(
                lambda *_: self.table.setColumnHidden(COL_KEY, not self.model.has_keys())
            )
        self.chip_delegate = LabelChipDelegate(self.table)
        self.table.setItemDelegateForColumn(COL_LABEL, self.chip_delegate)
        self.table.setItemDelegateForColumn(COL_PRED, self.chip_delegate)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.table.selectionModel().selectionChanged.connect(
            lambda *_: self.selectionChanged.emit(self.selected_ids())
        )
        layout.addWidget(self.table, 1)

        self.counts_label = QLabel()
        self.counts_label.setWordWrap(True)
        self.counts_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.counts_label)

    def fit_probability_column(self) -> None:
        """Wide enough for "0.96" and for its header with the sort arrow, in the table's own
        font: a fixed 44 px cut the value to "0.9" with a larger font."""
        header = self.table.horizontalHeader()
        title = str(self.model.headerData(COL_PROB, Qt.Orientation.Horizontal, 0) or "")
        style = self.table.style()
        cell = self.table.fontMetrics().horizontalAdvance("0.00") + 4 * (
            style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 1
        )
        head = (
            header.fontMetrics().horizontalAdvance(title)
            + 2 * style.pixelMetric(QStyle.PixelMetric.PM_HeaderMargin)
            + style.pixelMetric(QStyle.PixelMetric.PM_HeaderMarkSize)
            + 4
        )
        header.resizeSection(COL_PROB, max(cell, head))

    # ------------------------------------------------------------------ project
    def set_project(self, project: Project | None) -> None:
        """Show another project (or none) with no filter: a filter belongs to the project it
        was made in (the example's "True WT, predicted MUT (1)" hid a CT project's import)."""
        self.model.set_project(project)
        self.filter_edit.clear()
        self._shown_ids = None
        self.hidden_bar.clear()
        self.quick_box.blockSignals(True)
        self.quick_box.setCurrentIndex(0)  # "All items"
        self.quick_box.blockSignals(False)
        self.rebuild_quick_filters()
        self.update_counts()

    def show_all(self) -> None:
        """Clear the filters (the bar's "Show")."""
        self.hidden_bar.clear()
        self.filter_edit.clear()
        self.set_quick_filter(ItemFilterProxy.ALL)

    def note_new_items(self, ids: list[int]) -> int:
        """After an import: how many of the new items the filters hide; when some are, a bar
        says so with a button that shows them."""
        hidden = [i for i in ids if not self.is_shown(i)]
        if not hidden:
            self.hidden_bar.clear()
            return 0
        first = hidden[0]
        self.hidden_bar.show_message(
            "info",
            f"{len(hidden)} new item(s) hidden by the filter",
            [("Show", lambda: (self.show_all(), self.select_item(first)))],
        )
        return len(hidden)

    def is_shown(self, item_id: int) -> bool:
        row = self.model.row_of(item_id)
        return row is not None and self.proxy.mapFromSource(self.model.index(row, 0)).isValid()

    def rebuild_quick_filters(self) -> None:
        current = self.quick_box.currentData()
        self.quick_box.blockSignals(True)
        self.quick_box.clear()
        self.quick_box.addItem("All items", ItemFilterProxy.ALL)
        self.quick_box.addItem("Unlabelled", ItemFilterProxy.UNLABELLED)
        project = self.model.project
        for cls in project.classes() if project else []:
            self.quick_box.addItem(f"Class: {cls.name}", f"{ItemFilterProxy.CLASS}:{cls.name}")
        self.quick_box.addItem("Disagrees with label", ItemFilterProxy.DISAGREE)
        self.quick_box.addItem("Most uncertain (20 %)", ItemFilterProxy.UNCERTAIN)
        for key, (title, _provider) in self.id_filters.items():
            self.quick_box.addItem(title, key)
        if self._shown_ids is not None:
            self.quick_box.addItem(self._shown_ids[0], ItemFilterProxy.IDS)
        index = self.quick_box.findData(current) if current else 0
        self.quick_box.setCurrentIndex(max(index, 0))
        self.quick_box.blockSignals(False)
        self._quick_changed()

    def _quick_changed(self, *_: object) -> None:
        # Item data are plain strings ("class:NAME"): QComboBox.findData compares them.
        key = str(self.quick_box.currentData() or ItemFilterProxy.ALL)
        if key in self.id_filters:
            ids, ordered = self.id_filters[key][1]()
            self.proxy.set_ids(ids, ordered)
            return
        if key == ItemFilterProxy.IDS and self._shown_ids is not None:
            self.proxy.set_ids(self._shown_ids[1], self._shown_ids[2])
            return
        mode, _, name = key.partition(":")
        self.proxy.set_quick(mode, name or None)

    def add_id_filter(
        self, key: str, title: str, provider: Callable[[], tuple[list[int], bool]]
    ) -> None:
        """A quick filter whose items ``provider`` computes when it is chosen."""
        self.id_filters[key] = (title, provider)
        self.rebuild_quick_filters()

    def refresh_id_filter(self) -> None:
        """Recompute the chosen provider filter (its items changed: a new threshold, ...)."""
        if str(self.quick_box.currentData()) in self.id_filters:
            self._quick_changed()

    def show_ids(self, ids: list[int], title: str, ordered: bool = False) -> int:
        """Show exactly ``ids`` (as the quick filter ``title``) and select the first.
        Returns how many are shown."""
        self.filter_edit.clear()
        self._shown_ids = (title, [int(i) for i in ids], ordered)
        self.rebuild_quick_filters()
        self.quick_box.setCurrentIndex(self.quick_box.findData(ItemFilterProxy.IDS))
        self._quick_changed()
        self.select_first()
        return self.proxy.rowCount()

    def set_quick_filter(self, mode: str, class_name: str | None = None) -> None:
        key = f"{mode}:{class_name}" if class_name else mode
        index = self.quick_box.findData(key)
        if index >= 0:
            self.quick_box.setCurrentIndex(index)

    def update_counts(self) -> None:
        project = self.model.project
        if project is None:
            self.counts_label.setText("")
            return
        counts = project.label_counts()
        parts = [
            f"<span style='color:{c.color}'>■</span>&nbsp;{c.name}"
            f"&nbsp;<b>{counts.get(c.name, 0)}</b>"
            for c in project.classes()
        ]
        parts.append(f"unlabelled&nbsp;<b>{counts.get(None, 0)}</b>")
        total = sum(counts.values())
        shown = self.proxy.rowCount()
        suffix = f" — {total} items" + (f", {shown} shown" if shown != total else "")
        self.counts_label.setText(" &nbsp; ".join(parts) + suffix)

    # ------------------------------------------------------------------ selection
    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.currentItemChanged.emit(current.data(ITEM_ID_ROLE) if current.isValid() else None)

    def current_id(self) -> int | None:
        index = self.table.currentIndex()
        return index.data(ITEM_ID_ROLE) if index.isValid() else None

    def selected_ids(self) -> list[int]:
        rows = self.table.selectionModel().selectedRows()
        ids = [index.data(ITEM_ID_ROLE) for index in sorted(rows, key=lambda i: i.row())]
        current = self.current_id()
        if not ids and current is not None:
            ids = [current]
        return ids

    def select_item(self, item_id: int) -> bool:
        row = self.model.row_of(item_id)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, COL_NAME))
        if not index.isValid():  # hidden by a filter: show everything rather than fail
            self.filter_edit.clear()
            self.set_quick_filter(ItemFilterProxy.ALL)
            index = self.proxy.mapFromSource(self.model.index(row, COL_NAME))
        flags = (
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows
        )
        self.table.selectionModel().setCurrentIndex(index, flags)
        self.table.scrollTo(index)
        return True

    def select_first(self) -> None:
        if self.proxy.rowCount():
            self.select_item(self.proxy.index(0, 0).data(ITEM_ID_ROLE))

    def neighbour(self, item_id: int, delta: int) -> int | None:
        """The item ``delta`` rows away in the shown order, or None past either end."""
        row = self.model.row_of(item_id)
        if row is None:
            return None
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        target = index.row() + delta if index.isValid() else -1
        if not 0 <= target < self.proxy.rowCount():
            return None
        return self.proxy.index(target, 0).data(ITEM_ID_ROLE)

    def next_unlabelled(self, after: int | None, exclude: set[int]) -> int | None:
        """The next unlabelled item below ``after`` in the shown order, wrapping around."""
        ids = [self.proxy.index(r, 0).data(ITEM_ID_ROLE) for r in range(self.proxy.rowCount())]
        start = ids.index(after) + 1 if after in ids else 0
        for item_id in ids[start:] + ids[:start]:
            row = self.model.row_of(item_id)
            if row is None or item_id in exclude:
                continue
            if self.model.item_at(row).label is None:
                return item_id
        return None
