"""The main window's menus, built from the action records of :mod:`medview.ui.actions`:
each menu gets its records in order, with a handler per id; :func:`build` turns them into
QActions and returns a :class:`Menus` that the window keeps (``window.menus``), with every
action by its id. Nothing here sets attributes on the window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPoint
from PySide6.QtGui import QAction, QIcon, QShortcut
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from medview.ui import workers
from medview.ui.actions import BY_ID, Action, in_menu, shortcuts_help
from medview.ui.imaging import AUTO, AXES, COLORMAPS, FULL, PRESETS
from medview.ui.style import icon

if TYPE_CHECKING:
    from medview.ui.main_window import MainWindow

Handler = Callable[[], object] | list[tuple[str, str, Callable[[], object]]] | QMenu


@dataclass
class Menus:
    """The menu bar :func:`build` made; the window keeps it as ``window.menus``."""

    file: QMenu
    edit: QMenu
    view: QMenu
    help: QMenu
    recent: QMenu
    actions: dict[str, QAction] = field(default_factory=dict)  # by Action.id
    submenus: dict[str, QMenu] = field(default_factory=dict)
    project_actions: list[QAction] = field(default_factory=list)  # need an open project
    write_actions: list[QAction] = field(default_factory=list)  # need a writable project

    @property
    def undo(self) -> QAction:
        return self.actions["edit.undo"]

    @property
    def redo(self) -> QAction:
        return self.actions["edit.redo"]


def make_action(parent: QObject, record: Action, handler: Callable[[], object]) -> QAction:
    text = record.text
    if record.bound_by:  # the widget binds the key: the menu only shows it
        text = f"{text}\t{record.key_text()}"
    action = QAction(icon(record.icon) if record.icon else QIcon(), text, parent)
    action.setObjectName(record.id)
    if record.shortcut and not record.bound_by:
        action.setShortcuts(record.sequences())
    action.triggered.connect(lambda _=False: handler())
    return action


def add_actions(
    parent: QObject, menu: QMenu, records: list[Action], handlers: dict[str, Handler], menus: Menus
) -> dict[str, QAction]:
    """The QActions of ``records`` in ``menu`` (a separator between groups), registered by
    id in ``menus`` with their enabled-when rule. A handler that is a list of (id, text,
    callback) makes a submenu; a QMenu is added as it is."""
    made: dict[str, QAction] = {}
    group: str | None = None
    for record in records:
        if group is not None and record.group != group:
            menu.addSeparator()
        group = record.group
        action = _add_one(parent, menu, record, handlers[record.id], menus)
        made[record.id] = action
        if record.needs_project:
            menus.project_actions.append(action)
        if record.writes:
            menus.write_actions.append(action)
    return made


def _add_one(
    parent: QObject, menu: QMenu, record: Action, handler: Handler, menus: Menus
) -> QAction:
    if isinstance(handler, QMenu):
        menu.addMenu(handler)
        menus.submenus[record.id] = handler
        return handler.menuAction()
    if isinstance(handler, list):
        sub = menu.addMenu(record.text)
        menus.submenus[record.id] = sub
        for sub_id, text, callback in handler:
            sub_action = QAction(text, parent)
            sub_action.triggered.connect(lambda _=False, c=callback: c())
            sub.addAction(sub_action)
            menus.actions[sub_id] = sub_action
        return sub.menuAction()
    action = make_action(parent, record, handler)
    menu.addAction(action)
    menus.actions[record.id] = action
    return action


def file_handlers(w: MainWindow, recent: QMenu) -> dict[str, Handler]:
    return {
        "file.new": w.new_project,
        "file.open": w.open_project_dialog,
        "file.example": w.open_example,
        "file.recent": recent,
        "file.import": lambda: w.import_dialog(False),
        "file.import_folder": lambda: w.import_dialog(True),
        "file.relink": lambda: relink_missing(w),
        "file.close": w.close_project,
        "file.quit": w.close,
    }


def edit_handlers(w: MainWindow) -> dict[str, Handler]:
    splits: Handler = [
        (f"edit.split.{split}", split or "(none)", lambda s=split: w.set_split_selected(s))
        for split in ("train", "val", "test", None)
    ]
    return {
        "edit.undo": w.undo,
        "edit.redo": w.redo,
        "edit.label_set": w.edit_label_set,
        "edit.group": w.set_group_selected,
        "edit.split": splits,
        "edit.next": lambda: _move(w, 1),
        "edit.previous": lambda: _move(w, -1),
        "edit.next_unlabelled": lambda: _next_unlabelled(w),
    }


def view_handlers(w: MainWindow) -> dict[str, Handler]:
    sv = w.slice_view
    presets: Handler = [
        (
            f"view.preset.{name}",
            f"{name}  (W {PRESETS[name][0]:g} / L {PRESETS[name][1]:g})"
            if name in PRESETS
            else name,
            lambda n=name: sv.apply_preset(n),
        )
        for name in (AUTO, FULL, *PRESETS)
    ]
    cmaps: Handler = [
        (f"view.colormap.{name}", name, lambda n=name: sv.set_colormap(n)) for name in COLORMAPS
    ]
    axes: dict[str, Handler] = {
        f"view.axis.{name}": lambda n=number: sv.set_axis(n) for number, name in enumerate(AXES)
    }
    return {**axes, "view.fit": sv.reset_zoom, "view.window_level": presets, "view.colormap": cmaps}


def help_handlers(w: MainWindow) -> dict[str, Handler]:
    return {
        "help.shortcuts": lambda: QMessageBox.information(w, "Shortcuts", shortcuts_help()),
        "help.about": lambda: _about(w),
    }


def build(window: MainWindow) -> Menus:
    """The menu bar of ``window``: File, Edit, View, Help (the Training menu is added by
    medview.ui.training_dock, before Help), from the records of medview.ui.actions."""
    bar = window.menuBar()
    w = window
    file_menu = bar.addMenu("&File")
    edit = bar.addMenu("&Edit")
    view = bar.addMenu("&View")
    help_menu = bar.addMenu("&Help")
    recent = QMenu("Recent projects", file_menu)
    menus = Menus(file=file_menu, edit=edit, view=view, help=help_menu, recent=recent)
    recent.aboutToShow.connect(lambda: _fill_recent(w, recent))
    add_actions(w, file_menu, in_menu("file"), file_handlers(w, recent), menus)
    add_actions(w, edit, in_menu("edit"), edit_handlers(w), menus)
    add_actions(w, view, in_menu("view"), view_handlers(w), menus)
    view.addSeparator()  # the docks' show/hide toggles follow (MainWindow.add_dock)
    add_actions(w, help_menu, in_menu("help"), help_handlers(w), menus)

    undo, redo = menus.undo, menus.redo
    w.undo_stack.canUndoChanged.connect(undo.setEnabled)
    w.undo_stack.canRedoChanged.connect(redo.setEnabled)
    w.undo_stack.undoTextChanged.connect(lambda t: undo.setText(f"&Undo {t}".strip()))
    w.undo_stack.redoTextChanged.connect(lambda t: redo.setText(f"&Redo {t}".strip()))
    undo.setEnabled(False)
    redo.setEnabled(False)
    return menus


def update_enabled(window: MainWindow) -> None:
    has_project = window.project is not None
    writable = window.project is not None and not window.project.read_only
    for action in window.menus.project_actions:
        action.setEnabled(has_project)
    for action in window.menus.write_actions:
        action.setEnabled(writable)
    window.label_bar.setEnabled(writable)
    for shortcut in window.findChildren(QShortcut):  # keys the widgets bind (actions.bind)
        record = BY_ID.get(shortcut.objectName())
        if record is not None and (record.needs_project or record.writes):
            shortcut.setEnabled(writable if record.writes else has_project)


def _fill_recent(window: MainWindow, menu: QMenu) -> None:
    menu.clear()
    recent = window.settings.recent_projects()
    for path in recent:
        action = menu.addAction(Path(path).name)
        action.setToolTip(path)
        action.triggered.connect(lambda _=False, p=path: window.open_project(p))
    if not recent:
        menu.addAction("(none)").setEnabled(False)


def _move(window: MainWindow, delta: int) -> None:
    current = window.browser.current_id()
    if current is None:
        window.browser.select_first()
        return
    target = window.browser.neighbour(current, delta)
    if target is not None:
        window.browser.select_item(target)


def _next_unlabelled(window: MainWindow) -> None:
    next_id = window.browser.next_unlabelled(window.browser.current_id(), set())
    if next_id is None:
        window.statusBar().showMessage("Every item shown has a label.", 5000)
    else:
        window.browser.select_item(next_id)


def browser_context_menu(window: MainWindow, pos: QPoint) -> None:
    if window.project is None or not window.browser.selected_ids():
        return
    menu = QMenu(window)
    label_menu = menu.addMenu("Label as")
    for cls in window.project.classes():
        label_menu.addAction(f"{cls.shortcut}  {cls.name}").triggered.connect(
            lambda _=False, n=cls.name: window.label_selected(n)
        )
    label_menu.addAction("0  (clear)").triggered.connect(lambda: window.label_selected(None))
    menu.addAction("Set group / patient…").triggered.connect(lambda: window.set_group_selected())
    split_menu = menu.addMenu("Set split")
    for split in ("train", "val", "test", None):
        split_menu.addAction(split or "(none)").triggered.connect(
            lambda _=False, s=split: window.set_split_selected(s)
        )
    window.duplicate_actions.add_menu(menu)
    menu.exec(window.browser.table.viewport().mapToGlobal(pos))


def relink_missing(window: MainWindow, folder: str | None = None) -> None:
    """Find moved files by content under a folder the user picks (on a worker thread)."""
    project = window.project
    if project is None:
        return
    if folder is None:
        folder = QFileDialog.getExistingDirectory(window, "Where are the files now?")
        if not folder:
            return

    def work() -> tuple[int, int, list[str]]:
        from medview.io.relink import relink_report

        missing = len(project.missing_items())
        report = relink_report(project, folder)
        return len(report.relinked), missing, [line.strip() for line in report.lines()]

    def done(result: tuple[int, int, list[str]]) -> None:
        found, missing, why_not = result
        if project is window.project:
            window.browser.model.reload()
            window.relinked.emit(found)
        text = f"Re-linked {found} of {missing} missing item(s)"
        if why_not:  # say why the others did not match ("3 of 40 slices missing")
            more = f" (and {len(why_not) - 1} more)" if len(why_not) > 1 else ""
            text += f"; not found: {why_not[0]}{more}"
        window.statusBar().showMessage(text, 20000)

    window.statusBar().showMessage("Looking for the missing files…")
    workers.start(work, on_done=done, on_error=lambda exc: window.error("Re-link", str(exc)))


def _about(window: MainWindow) -> None:
    from medview import __version__

    QMessageBox.about(
        window,
        "About medview",
        f"<b>medview {__version__}</b><br>Browse, label and classify 2D images and 3D volumes."
        "<br>Labels are saved in the project the moment you set them.",
    )
