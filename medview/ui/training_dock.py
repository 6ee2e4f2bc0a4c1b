"""Puts training into the main window: the Training dock (TrainingPanel), the plots dock
(live plots + run history, as tabs) and a Training menu with shortcuts (declared as
records in medview.ui.actions). :func:`install` returns a :class:`TrainingDocks` the window
keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMenu, QTabWidget

from medview.ui.actions import in_menu
from medview.ui.menus import Handler, add_actions
from medview.ui.model_actions import ModelActions
from medview.ui.result_clicks import ResultClicks
from medview.ui.run_again import run_again
from medview.ui.training_panel import PanelHost, TrainingPanel

if TYPE_CHECKING:
    from medview.ui.main_window import MainWindow


@dataclass
class TrainingDocks:
    """What :func:`install` added to the main window; the window keeps it as
    ``window.training``."""

    panel: TrainingPanel
    training_dock: QDockWidget
    plots_dock: QDockWidget
    tabs: QTabWidget  # "Current run" (live plots) and "Run history"
    menu: QMenu  # the Training menu
    model_actions: ModelActions  # Export model… / Apply to folder…
    result_clicks: ResultClicks  # clicks on the plots open what they show
    actions: dict[str, QAction] = field(default_factory=dict)  # by Action.id

    @property
    def docks(self) -> tuple[QDockWidget, QDockWidget]:
        return (self.training_dock, self.plots_dock)


def menu_handlers(panel: TrainingPanel, actions: ModelActions) -> dict[str, Handler]:
    """What the Training menu's records (medview.ui.actions, menu "training") do."""
    from medview.ui.study_dialog import open_existing_study

    return {
        "training.train": panel.start,
        "training.cancel": panel.cancel,
        "training.predict": panel.predict_unlabelled,
        "training.apply": lambda: actions.apply_to_folder(),
        "training.label_next": panel.label_next,
        "training.gradcam": panel.gradcam,
        "training.overlay": lambda: gradcam_key(panel),
        "training.compare": panel.compare_models,
        "training.tune": panel.tune,
        "training.open_study": lambda: open_existing_study(panel),
    }


def install(window: MainWindow) -> TrainingDocks:
    """Add the Training dock, the plots dock and the Training menu to the main window."""
    panel = TrainingPanel(panel_host(window))
    right, bottom = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
    training_dock = window.add_dock(panel, "Training", right, "trainingDock")
    tabs = QTabWidget()
    tabs.addTab(panel.plots, "Current run")
    tabs.addTab(panel.history, "Run history")
    # Run history's runSelected has put the run in view (panel.use_run): show its plots.
    panel.history.openRequested.connect(lambda _run_id: tabs.setCurrentIndex(0))
    panel.history.rerunRequested.connect(
        lambda run_id: tabs.setCurrentIndex(0) if run_again(panel, run_id) else None
    )
    clicks = ResultClicks(panel)
    follow_run_in_view(panel, clicks)
    model_actions = ModelActions(panel)
    panel.history.exportRequested.connect(lambda run_id: model_actions.export_model(run_id))
    plots_dock = window.add_dock(tabs, "Training plots", bottom, "trainingPlotsDock")
    window.projectOpened.connect(panel.set_project)
    window.projectClosed.connect(lambda: panel.set_project(None))
    window.labelsChanged.connect(lambda _ids: panel.schedule_check())
    window.imageShown.connect(panel.item_shown)
    menu = QMenu("&Training", window.menuBar())
    window.menuBar().insertMenu(window.menus.help.menuAction(), menu)  # keep Help last
    docks = TrainingDocks(panel, training_dock, plots_dock, tabs, menu, model_actions, clicks)
    handlers = menu_handlers(panel, model_actions)
    # Same builder and enabled-when rules as the other menus (needs_project / writes).
    docks.actions = add_actions(window, menu, in_menu("training"), handlers, window.menus)
    menu.addSeparator()
    menu.addAction(training_dock.toggleViewAction())
    menu.addAction(plots_dock.toggleViewAction())
    panel.history.deleted.connect(panel.runs_deleted)
    for dock in docks.docks:
        window.restoreDockWidget(dock)  # created after restoreState(): take the saved place

    def follow_project(has_project: bool) -> None:
        for dock in docks.docks:  # the welcome screen shows no docks
            dock.setVisible(has_project)

    def first_sizes() -> None:
        # No saved layout yet: the plots take a third of the height, not half of the view.
        if window.settings.window_state() is None:
            window.resizeDocks([plots_dock], [390], Qt.Orientation.Vertical)
            window.resizeDocks([training_dock], [330], Qt.Orientation.Horizontal)

    window.projectOpened.connect(lambda _p: QTimer.singleShot(0, first_sizes))
    window.projectOpened.connect(lambda _p: follow_project(True))
    window.projectClosed.connect(lambda: follow_project(False))
    follow_project(window.project is not None)
    if window.project is not None:
        panel.set_project(window.project)
    return docks


def follow_run_in_view(panel: TrainingPanel, clicks: ResultClicks) -> None:
    """The confusion-cell and quick filters list the run in view's items: they follow each
    change of it (a click in Run history, a project opened, a run ended or deleted)."""
    events = panel.session.events
    events.run_selected.connect(lambda run_id, load: clicks.load(run_id) if load else None)
    events.plots_reset.connect(lambda layout: None if layout.classes else clicks.load(None))
    panel.runEnded.connect(lambda _status, run_id: clicks.load(run_id or None))


def panel_host(window: MainWindow) -> PanelHost:
    """What the Training dock may use of the window."""
    return PanelHost(
        browser=window.browser,
        slice_view=window.slice_view,
        current_item=lambda: window.current_item,
        show_status=window.statusBar().showMessage,
    )


def gradcam_key(panel: TrainingPanel) -> None:
    """G: the selected item's Grad-CAM in one key: computed when it has none yet (with the
    shown run), else shown / hidden."""
    item = panel.host.current_item()
    overlay = panel.overlay
    if item is not None and overlay.item_id != item.id and panel.run_id is not None:
        panel.gradcam()
        return
    overlay.toggle()
