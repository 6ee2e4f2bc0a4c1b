"""Menus and actions of the main window, declared as data: each menu is a list of
``MenuEntry(id, text, handler, shortcut, icon, needs_project)``; :func:`build` turns them into
QActions and returns a :class:`Menus` that the window keeps (``window.menus``), with every
action by its id. Nothing here sets attributes on the window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPoint
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from medview.ui import workers
from medview.ui.imaging import AUTO, AXES, COLORMAPS, FULL, PRESETS
from medview.ui.style import icon

if TYPE_CHECKING:
    from medview.ui.main_window import MainWindow

SHORTCUTS_HELP = """
<table cellpadding='3'>
<tr><td><b>1 – 9</b></td><td>label the selected item(s) with that class</td></tr>
<tr><td><b>0</b>, <b>Backspace</b></td><td>clear the label</td></tr>
<tr><td><b>Ctrl+Z</b> / <b>Ctrl+Shift+Z</b></td><td>undo / redo a label</td></tr>
<tr><td><b>↑ / ↓</b> (list), <b>Space</b> / <b>Shift+Space</b></td>
 <td>next / previous item</td></tr>
<tr><td><b>Mouse wheel</b>, <b>PageUp / PageDown</b></td><td>previous / next slice
 (Shift: 10 slices)</td></tr>
<tr><td><b>A</b>, <b>C</b>, <b>S</b></td><td>axial, coronal, sagittal plane</td></tr>
<tr><td><b>Right-drag</b></td><td>window/level (right: less contrast,
 up: brighter)</td></tr>
<tr><td><b>Left-drag</b>, <b>Ctrl+wheel</b>, <b>Ctrl+0</b></td><td>pan, zoom, fit</td></tr>
</table>
"""


Shortcut = QKeySequence | QKeySequence.StandardKey | str | list[QKeySequence] | None


@dataclass(frozen=True)
class MenuEntry:
    """One menu entry, declared as data: ``id`` names its QAction in ``Menus.actions``."""

    id: str
    text: str
    handler: Callable[[], object]
    shortcut: Shortcut = None
    icon: str = ""
    needs_project: bool = False  # disabled on the welcome screen
    writes: bool = False  # writes to the project: disabled for a read-only one


@dataclass(frozen=True)
class Submenu:
    """A submenu whose entries are declared as data too."""

    id: str
    text: str
    entries: list[MenuEntry]
    needs_project: bool = False
    writes: bool = False


SEPARATOR = None
Entries = list[MenuEntry | Submenu | None]


@dataclass
class Menus:
    """The menu bar :func:`build` made; the window keeps it as ``window.menus``."""

    file: QMenu
    edit: QMenu
    view: QMenu
    help: QMenu
    recent: QMenu
    actions: dict[str, QAction] = field(default_factory=dict)  # by MenuEntry.id
    submenus: dict[str, QMenu] = field(default_factory=dict)
    project_actions: list[QAction] = field(default_factory=list)  # need an open project
    write_actions: list[QAction] = field(default_factory=list)  # need a writable project

    @property
    def undo(self) -> QAction:
        return self.actions["edit.undo"]

    @property
    def redo(self) -> QAction:
        return self.actions["edit.redo"]


def make_action(parent: QObject, entry: MenuEntry) -> QAction:
    action = QAction(icon(entry.icon) if entry.icon else QIcon(), entry.text, parent)
    if entry.shortcut is not None:
        if isinstance(entry.shortcut, list):
            action.setShortcuts(entry.shortcut)
        else:
            action.setShortcut(entry.shortcut)
    handler = entry.handler
    action.triggered.connect(lambda _=False: handler())
    return action


def add_entries(parent: QObject, menu: QMenu, entries: Entries, menus: Menus) -> None:
    """Create the QActions of ``entries`` in ``menu``, registered by id in ``menus``."""
    for entry in entries:
        if entry is None:
            menu.addSeparator()
        elif isinstance(entry, Submenu):
            sub = menu.addMenu(entry.text)
            menus.submenus[entry.id] = sub
            add_entries(parent, sub, entry.entries, menus)
            if entry.needs_project:
                menus.project_actions.append(sub.menuAction())
            if entry.writes:
                menus.write_actions.append(sub.menuAction())
        else:
            action = make_action(parent, entry)
            menu.addAction(action)
            menus.actions[entry.id] = action
            if entry.needs_project:
                menus.project_actions.append(action)
            if entry.writes:
                menus.write_actions.append(action)


def file_entries(w: MainWindow) -> Entries:
    return [
        MenuEntry("file.new", "&New project…", w.new_project, QKeySequence.StandardKey.New, "new"),
        MenuEntry(
            "file.open",
            "&Open project…",
            w.open_project_dialog,
            QKeySequence.StandardKey.Open,
            "open",
        ),
        MenuEntry("file.example", "Open &example", w.open_example, None, "example"),
    ]


def file_project_entries(w: MainWindow) -> Entries:
    """After the Recent projects submenu."""
    return [
        SEPARATOR,
        MenuEntry(
            "file.import",
            "&Import files…",
            lambda: w.import_dialog(False),
            "Ctrl+I",
            "import",
            needs_project=True,
            writes=True,
        ),
        MenuEntry(
            "file.import_folder",
            "Import &folder…",
            lambda: w.import_dialog(True),
            "Ctrl+Shift+I",
            needs_project=True,
            writes=True,
        ),
        MenuEntry(
            "file.relink",
            "&Re-link missing files…",
            lambda: relink_missing(w),
            needs_project=True,
            writes=True,
        ),
        SEPARATOR,
        MenuEntry(
            "file.close",
            "&Close project",
            w.close_project,
            QKeySequence.StandardKey.Close,
            needs_project=True,
        ),
        MenuEntry("file.quit", "&Quit", w.close, QKeySequence.StandardKey.Quit),
    ]


def edit_entries(w: MainWindow) -> Entries:
    splits = [
        MenuEntry(f"edit.split.{split}", split or "(none)", lambda s=split: w.set_split_selected(s))
        for split in ("train", "val", "test", None)
    ]
    return [
        MenuEntry("edit.undo", "&Undo label", w.undo, QKeySequence.StandardKey.Undo, "undo"),
        MenuEntry(
            "edit.redo",
            "&Redo label",
            w.redo,
            [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")],
            "redo",
        ),
        SEPARATOR,
        MenuEntry(
            "edit.label_set",
            "&Label set…",
            w.edit_label_set,
            "Ctrl+L",
            needs_project=True,
            writes=True,
        ),
        MenuEntry(
            "edit.group",
            "Set &group / patient of selected…",
            w.set_group_selected,
            "Ctrl+G",
            needs_project=True,
            writes=True,
        ),
        Submenu("edit.split", "Set &split of selected", splits, needs_project=True, writes=True),
        SEPARATOR,
        MenuEntry("edit.next", "Next item", lambda: _move(w, 1), "Space", needs_project=True),
        MenuEntry(
            "edit.previous",
            "Previous item",
            lambda: _move(w, -1),
            "Shift+Space",
            needs_project=True,
        ),
        MenuEntry(
            "edit.next_unlabelled",
            "Next unlabelled item",
            lambda: _next_unlabelled(w),
            "N",
            needs_project=True,
        ),
    ]


def view_entries(w: MainWindow) -> Entries:
    sv = w.slice_view
    axes: Entries = [
        MenuEntry(
            f"view.axis.{name}",
            f"{name.capitalize()}\t{name[0].upper()}",
            lambda n=number: sv.set_axis(n),
        )
        for number, name in enumerate(AXES)
    ]
    presets = [
        MenuEntry(
            f"view.preset.{name}",
            f"{name}  (W {PRESETS[name][0]:g} / L {PRESETS[name][1]:g})"
            if name in PRESETS
            else name,
            lambda n=name: sv.apply_preset(n),
        )
        for name in (AUTO, FULL, *PRESETS)
    ]
    cmaps = [
        MenuEntry(f"view.colormap.{name}", name, lambda n=name: sv.set_colormap(n))
        for name in COLORMAPS
    ]
    return [
        *axes,
        MenuEntry("view.fit", "Fit image to view\tCtrl+0", sv.reset_zoom, None, "reset_view"),
        Submenu("view.window_level", "Window / level", presets),
        Submenu("view.colormap", "Colour map", cmaps),
        SEPARATOR,  # the docks' show/hide toggles follow (MainWindow.add_dock)
    ]


def help_entries(w: MainWindow) -> Entries:
    return [
        MenuEntry(
            "help.shortcuts",
            "Keyboard shortcuts",
            lambda: QMessageBox.information(w, "Shortcuts", SHORTCUTS_HELP),
            "F1",
        ),
        MenuEntry("help.about", "About medview", lambda: _about(w)),
    ]


def build(window: MainWindow) -> Menus:
    """The menu bar of ``window``: File, Edit, View, Help (the Training menu is added by
    medview.ui.training_dock, before Help)."""
    bar = window.menuBar()
    w = window
    file_menu = bar.addMenu("&File")
    edit = bar.addMenu("&Edit")
    view = bar.addMenu("&View")
    help_menu = bar.addMenu("&Help")
    recent = QMenu("Recent projects", file_menu)
    menus = Menus(file=file_menu, edit=edit, view=view, help=help_menu, recent=recent)
    add_entries(w, file_menu, file_entries(w), menus)
    file_menu.addMenu(recent)
    recent.aboutToShow.connect(lambda: _fill_recent(w, recent))
    add_entries(w, file_menu, file_project_entries(w), menus)
    add_entries(w, edit, edit_entries(w), menus)
    add_entries(w, view, view_entries(w), menus)
    add_entries(w, help_menu, help_entries(w), menus)

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
