"""The study view: one window per study, filled in while its job runs and complete at the end.

* a sortable table, one row per model (or trial): CV AUC / accuracy / F1 as mean ± s.d.,
  test-split metrics, parameters, MACs, seconds per epoch, total time, and the settings that
  differ between runs as their own columns (a search's hyper-parameter table);
* the models' mean ROC curves overlaid, and CV AUC against MACs (log x) with the Pareto front;
* the paired statistics of the best model against each other one, as sentences naming the
  tests (paired t-test on per-fold AUCs, DeLong on the pooled out-of-fold predictions);
* for a search: "Apply best settings" puts the best trial's settings in the training form.

The same table, statistics and print-ready figures (PNG 300 dpi + SVG) are in the study folder
(training/recipe/study_report.py, training/recipe/study_figures.py); "Open folder" shows them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from medview.core import messages as msg
from medview.core.errors import MedviewError
from medview.jobs.study_session import SETTING_NAMES, StudyProgress, StudySession, setting_text
from medview.ui import study_plots
from medview.ui.plots import _plot, fix_unit_square

if TYPE_CHECKING:
    from medview.core.project import Project
    from medview.ui.job_bridge import JobBridge

SORT_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass
class StudyHost:
    """What the study windows and dialogs need of the Training dock, and no more
    (``TrainingPanel.study_host()`` makes one)."""

    window: QWidget  # the parent of the dialogs and windows
    project: Callable[[], Project | None]
    settings: Callable[[], tuple[str, dict[str, Any]]]  # the kind, the form's run settings
    refusal: Callable[[], str | None]  # why no study may start now, or None
    device: Callable[[], str]  # "cpu" or the GPU's name
    set_running: Callable[[bool], None]  # Train, Compare and Tune wait while a study runs
    apply: Callable[[dict[str, Any], dict[str, Any]], None]  # form values, extra settings
    log: Callable[[str], None]  # a line in the Training dock's log
    views: list[QWidget]  # the open study windows: kept alive, nothing else owns them


def _mean_sd(mean: float | None, sd: float | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.3f} ± {sd or 0:.3f}"


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


class StudyView(QWidget):
    """A top-level window showing one study, a view of its :class:`StudySession`;
    ``bridge`` is its running job, if any."""

    def __init__(
        self,
        host: StudyHost,
        study_id: str | None = None,
        bridge: JobBridge | None = None,
    ) -> None:
        super().__init__(host.window, Qt.WindowType.Window)
        self.host = host
        self.bridge = bridge
        self.session = StudySession(study_id, running=bridge is not None)
        self.setWindowTitle("Study")
        self.resize(1280, 820)
        self._build()
        host.views.append(self)  # keep a reference: nothing else owns it
        self._listen(self.session)
        if bridge is not None:
            bridge.message.connect(self.handle)
            self.progress.setFormat(self.session.progress.text)
        else:
            self.progress.hide()
            self.cancel_button.hide()
        if study_id:
            self.refresh()

    def _listen(self, session: StudySession) -> None:
        events = session.events
        events.title.connect(lambda study_id: self.setWindowTitle(f"Study {study_id}"))
        events.progress.connect(self._show_progress)
        events.status.connect(self.status.setText)
        events.refresh.connect(self.refresh)
        events.ended.connect(lambda _state: self.cancel_button.setEnabled(False))

    @property
    def study_id(self) -> str | None:
        return self.session.study_id

    @property
    def report(self) -> dict[str, Any]:
        return self.session.report

    @report.setter
    def report(self, report: dict[str, Any]) -> None:
        self.session.report = report

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.session.rows

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.header = QLabel("Starting the study…")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.header)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        row.addWidget(self.progress, 1)
        self.cancel_button = QPushButton("Cancel study")
        self.cancel_button.setToolTip("Stop after this batch; finished runs are kept")
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.cancel_button)
        self.apply_button = QPushButton("Apply best settings to the form")
        self.apply_button.clicked.connect(self.apply_best)
        self.apply_button.hide()
        row.addWidget(self.apply_button)
        self.folder_button = QPushButton("Open folder")
        self.folder_button.setToolTip("study.csv, stats.csv, study.json and the PNG/SVG figures")
        self.folder_button.clicked.connect(self.open_folder)
        row.addWidget(self.folder_button)
        row.addStretch(0)
        layout.addLayout(row)
        self.status = QLabel(" ")
        self.status.setStyleSheet("color: #555")
        layout.addWidget(self.status)

        split = QSplitter(Qt.Orientation.Vertical)
        self.splitter = split
        self.model = QStandardItemModel(0, 0, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        split.addWidget(self.table)

        split.addWidget(self._build_plots())

        self.stats = QLabel()
        self.stats.setWordWrap(True)
        self.stats.setTextFormat(Qt.TextFormat.RichText)
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        split.addWidget(self.stats)
        split.setSizes([260, 380, 140])
        layout.addWidget(split, 1)

    def _build_plots(self) -> QWidget:
        """The mean ROC and the AUC-against-cost plots, side by side."""
        plots = QWidget()
        pl = QHBoxLayout(plots)
        pl.setContentsMargins(0, 0, 0, 0)
        self.roc_plot = _plot(
            "Mean cross-validation ROC", "False positive rate", "True positive rate"
        )
        fix_unit_square(self.roc_plot)
        self.roc_plot.addLegend(offset=(-10, -10), labelTextSize="8pt", labelTextColor="#222")
        self.cost_plot = _plot("CV AUC against cost", "GMACs per image (log scale)", "CV ROC AUC")
        self.cost_plot.setLogMode(x=True, y=False)
        pl.addWidget(self.roc_plot, 1)
        pl.addWidget(self.cost_plot, 1)
        return plots

    # ------------------------------------------------------------------ job messages
    def handle(self, message: msg.Message) -> None:
        """One message of the study's job (the bridge's, in order): the session decides."""
        self.session.handle(message)

    def _show_progress(self, progress: StudyProgress) -> None:
        self.progress.setValue(progress.value)
        self.progress.setFormat(progress.text)

    def cancel(self) -> None:
        if self.bridge is not None and self.session.cancel():
            self.bridge.cancel()
            self.cancel_button.setEnabled(False)

    # ------------------------------------------------------------------ content
    def refresh(self) -> None:
        project = self.host.project()
        study_id = self.study_id
        if project is None or not study_id:
            return
        from training.recipe.study_report import load_report, study_rows, write_study_report

        try:
            if self.session.ended:
                report = write_study_report(project.folder, study_id, final=False)
            else:
                report = load_report(project, study_id)
            rows = study_rows(project, study_id)
            # the database has the study's current state (study.json may predate its end)
            self.session.show(report, rows, project.get_study(study_id).status)
        except (MedviewError, OSError) as exc:
            self.session.unreadable(str(exc))
            return
        self._fill_header()
        self._fill_table()
        self._fill_plots()
        self._fill_stats()
        tune = self.report.get("tune") or {}
        self.apply_button.setVisible(self.report.get("kind") == "tune")
        self.apply_button.setEnabled(bool(tune.get("best_settings")))

    def _fill_header(self) -> None:
        r = self.report
        base = (r.get("spec") or {}).get("base") or {}
        what = "Model comparison" if r.get("kind") == "compare" else "Hyper-parameter search"
        folds = "hold-out split" if base.get("holdout") else f"{base.get('folds')}-fold CV"
        self.header.setText(
            f"<b>{what} {r.get('id')}</b> — {r.get('status')}<br>"
            f"Shared by every run: {folds}, seed {base.get('seed')}, {base.get('size')} px "
            f"input, {base.get('epochs')} epoch{'s' if base.get('epochs') != 1 else ''}, "
            f"batch {base.get('batch_size')}, learning rate {base.get('lr')}, "
            f"augmentation {base.get('augment')}"
            + (" (varied by the search)" if r.get("kind") == "tune" else "")
        )

    def _columns(self) -> list[tuple[str, Any]]:
        cols: list[tuple[str, Any]] = [
            ("Model" if self.report.get("kind") == "compare" else "Trial", None),
            ("CV AUC (95% t-interval over folds, clipped to [0, 1])", "cv_auc"),
            ("CV accuracy", ("cv_accuracy_mean", "cv_accuracy_std")),
            ("CV F1", ("cv_f1_mean", "cv_f1_std")),
            ("Test AUC", "test_auc"),
            ("Test accuracy", "test_accuracy"),
            ("Test F1", "test_f1"),
            ("Params (M)", "parameters"),
            (self._mac_unit()[1], "macs"),
            ("s / epoch", "seconds_per_epoch"),
            ("Total (min)", "total_seconds"),
        ]
        for key in self.report.get("differing_settings", []):
            cols.append((SETTING_NAMES.get(key, key.replace("_", " ")), ("setting", key)))
        cols.append(("Status", "status"))
        return cols

    def _fill_table(self) -> None:
        cols = self._columns()
        self.model.clear()
        self.model.setHorizontalHeaderLabels([c[0] for c in cols])
        best = self.report.get("best")
        bold = QFont()
        bold.setBold(True)
        for r in self.rows:
            items = []
            for name, key in cols:
                text, sort = self._cell(r, name, key)
                item = QStandardItem(text)
                item.setData(sort if sort is not None else -math.inf, SORT_ROLE)
                if key not in (None, "status") and not (
                    isinstance(key, tuple) and key[0] == "setting"
                ):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if r.get("run_id") == best:
                    item.setFont(bold)
                if key is None:
                    item.setToolTip(
                        f"run {r.get('run_id')}" + (f": {r['message']}" if r.get("message") else "")
                    )
                items.append(item)
            self.model.appendRow(items)
        header = self.table.horizontalHeader()
        if header.sortIndicatorSection() < 0 or header.sortIndicatorSection() >= len(cols):
            self.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # best CV AUC first
        else:
            self.table.sortByColumn(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self.table.resizeColumnsToContents()
        # few rows: the table takes what they need, the plots get the rest
        rows_height = self.table.verticalHeader().length() + header.height() + 6
        sizes = self.splitter.sizes()
        if sum(sizes) and rows_height < sizes[0]:
            self.splitter.setSizes([rows_height, sizes[1] + sizes[0] - rows_height, sizes[2]])

    def _cell(self, r: dict[str, Any], name: str, key: Any) -> tuple[str, Any]:
        if key is None:
            label = r.get("model") if self.report.get("kind") == "compare" else r.get("run_id")
            return str(label), str(label)
        if isinstance(key, tuple) and key[0] == "setting":
            value = (r.get("settings") or {}).get(key[1])
            return setting_text(value), value if isinstance(value, int | float) else str(value)
        if isinstance(key, tuple):
            mean, sd = r.get(key[0]), r.get(key[1])
            return _mean_sd(mean, sd), mean
        if key == "cv_auc":
            return study_plots.auc_text(r), r.get("cv_auc_mean")
        value = r.get(key)
        if key == "status":
            shown = self.session.row_status(r)
            return shown, shown
        if value is None:
            return "–", None
        if key == "parameters":
            return f"{value / 1e6:.2f}", value
        if key == "macs":
            scale = self._mac_unit()[0]
            return f"{value / scale:.3g}" if value / scale < 10 else f"{value / scale:.0f}", value
        if key == "seconds_per_epoch":
            return f"{value:.1f}", value
        if key == "total_seconds":
            return f"{value / 60:.1f}", value
        return _num(value), value

    def _label(self, r: dict[str, Any]) -> str:
        if self.report.get("kind") == "compare":
            return str(r.get("model"))
        return str(r.get("run_id", "")).rsplit("-", 1)[-1]

    def _fill_plots(self) -> None:
        done = [
            r
            for r in self.rows
            if r.get("status") == "finished" and r.get("cv_auc_mean") is not None
        ]
        done.sort(key=lambda r: -r["cv_auc_mean"])
        study_plots.fill_roc(self.roc_plot, done, self._label)
        study_plots.fill_cost(self.cost_plot, done, self._label, *self._mac_unit())

    def _mac_unit(self) -> tuple[float, str]:
        macs = [r["macs"] for r in self.rows if r.get("macs")]
        return (1e6, "MMACs") if macs and max(macs) < 1e9 else (1e9, "GMACs")

    def _fill_stats(self) -> None:
        pairs = self.report.get("paired") or []
        best = self.report.get("best")
        if not pairs:
            self.stats.setText(
                "<i>Paired statistics appear when at least two models have finished.</i>"
            )
            return
        best_row = next((r for r in self.rows if r.get("run_id") == best), {})
        lines = [
            f"<b>Best by mean CV AUC: {self._label(best_row)}.</b> Compared with each other model:"
        ]
        lines += [f"• {html.escape(p['sentence'])}" for p in pairs]
        lines.append(
            "<span style='color:#555'>Per-fold test: "
            + html.escape(str(self.report.get("paired_test", "")))
            + "; the folds share training data, so it is optimistic. DeLong's test (DeLong "
            "et al. 1988; fast algorithm of Sun &amp; Xu 2014) compares the AUCs of the pooled "
            "out-of-fold predictions of the same items. Two-sided, α = 0.05; with several "
            "pairs, each test's p-values are Holm-adjusted over them. A pair is compared only "
            "when both models learned (CV AUC 95% t-interval above 0.5).</span>"
        )
        self.stats.setText("<br>".join(lines))

    # ------------------------------------------------------------------ actions
    def open_folder(self) -> None:
        project = self.host.project()
        if project is None or not self.study_id:
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(project.study_dir(self.study_id))))

    def best_settings(self) -> dict[str, Any]:
        return self.session.best_settings()

    def apply_best(self) -> None:
        """The best trial's settings into the training form (weight decay, which the form
        does not show, rides along as an extra setting of the next runs)."""
        best = self.session.apply_best()
        if best is None:
            return
        self.host.apply(best.form, best.extra)
        self.host.log(best.log_line)
