"""Puts training into the main window: the Training dock (TrainingPanel), the plots dock
(live plots + run history, as tabs) and a Training menu with shortcuts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QTabWidget

from medview.ui.model_actions import ModelActions
from medview.ui.result_clicks import ResultClicks
from medview.ui.run_again import run_again
from medview.ui.training_panel import TrainingPanel

if TYPE_CHECKING:
    from medview.ui.main_window import MainWindow


def install(window: MainWindow) -> TrainingPanel:
    """Add the Training dock, the plots dock and the Training menu to the main window."""
    panel = TrainingPanel(window)
    right, bottom = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
    window.training_dock = window.add_dock(panel, "Training", right, "trainingDock")
    tabs = QTabWidget()
    tabs.addTab(panel.plots, "Current run")
    tabs.addTab(panel.history, "Run history")
    panel.tabs = tabs
    panel.history.openRequested.connect(
        lambda run_id: (panel.use_run(run_id), tabs.setCurrentIndex(0))
    )
    panel.history.rerunRequested.connect(
        lambda run_id: tabs.setCurrentIndex(0) if run_again(panel, run_id) else None
    )
    clicks = ResultClicks(panel)
    panel.result_clicks = clicks
    panel.history.openRequested.connect(clicks.load)
    panel.runEnded.connect(lambda _status, run_id: clicks.load(run_id or None))
    actions = ModelActions(panel)
    panel.model_actions = actions
    panel.history.exportRequested.connect(lambda run_id: actions.export_model(run_id))
    window.plots_dock = window.add_dock(tabs, "Training plots", bottom, "trainingPlotsDock")
    window.projectOpened.connect(panel.set_project)
    window.projectClosed.connect(lambda: panel.set_project(None))
    window.labelsChanged.connect(lambda _ids: panel.schedule_check())
    window.imageShown.connect(panel.item_shown)
    menu = window.menuBar().addMenu("&Training")
    bar_actions = window.menuBar().actions()
    if len(bar_actions) >= 2:  # keep Help last
        window.menuBar().insertMenu(bar_actions[-2], menu)
    entries: list[tuple[str, Any, str | None]] = [
        ("&Train", panel.start, "Ctrl+T"),
        ("&Cancel run", panel.cancel, None),
        ("&Predict unlabelled", panel.predict_unlabelled, None),
        ("&Apply to folder…", lambda: actions.apply_to_folder(), None),
        ("Label &next (least certain)", panel.label_next, "U"),
        ("&Grad-CAM for this item", panel.gradcam, "Ctrl+Shift+G"),
        ("Grad-CAM &overlay (compute, or show / hide)", lambda: gradcam_key(panel), "G"),
    ]
    for text, slot, key in entries:
        action = QAction(text, window)
        if key:
            action.setShortcut(QKeySequence(key))
        action.triggered.connect(lambda _=False, s=slot: s())
        menu.addAction(action)
    menu.addSeparator()
    from medview.ui.study_dialog import open_existing_study

    for text, slot in (
        ("Compare &models…", panel.compare_models),
        ("T&une hyper-parameters…", panel.tune),
        ("Open st&udy…", lambda: open_existing_study(panel)),
    ):
        action = QAction(text, window)
        action.triggered.connect(lambda _=False, s=slot: s())
        menu.addAction(action)
    menu.addSeparator()
    menu.addAction(window.training_dock.toggleViewAction())
    menu.addAction(window.plots_dock.toggleViewAction())
    panel.history.deleted.connect(panel.runs_deleted)
    docks = (window.training_dock, window.plots_dock)
    for dock in docks:
        window.restoreDockWidget(dock)  # created after restoreState(): take the saved place

    def follow_project(has_project: bool) -> None:
        for dock in docks:  # the welcome screen shows no docks
            dock.setVisible(has_project)

    def first_sizes() -> None:
        # No saved layout yet: the plots take a third of the height, not half of the view.
        if window.settings.window_state() is None:
            window.resizeDocks([window.plots_dock], [390], Qt.Orientation.Vertical)
            window.resizeDocks([window.training_dock], [330], Qt.Orientation.Horizontal)

    window.projectOpened.connect(lambda _p: QTimer.singleShot(0, first_sizes))
    window.projectOpened.connect(lambda _p: follow_project(True))
    window.projectClosed.connect(lambda: follow_project(False))
    window.training_panel = panel
    follow_project(window.project is not None)
    if window.project is not None:
        panel.set_project(window.project)
    return panel


def gradcam_key(panel: TrainingPanel) -> None:
    """G: the selected item's Grad-CAM in one key: computed when it has none yet (with the
    shown run), else shown / hidden."""
    item = panel.window.current_item
    overlay = panel.overlay
    if item is not None and overlay.item_id != item.id and panel.run_id is not None:
        panel.gradcam()
        return
    overlay.toggle()
