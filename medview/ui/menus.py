"""Menus and actions of the main window (kept apart so main_window.py stays readable)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint
from PySide6.QtGui import QAction, QKeySequence
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


def _action(
    window: MainWindow,
    menu: QMenu,
    text: str,
    slot: Callable[[], object],
    shortcut: QKeySequence | QKeySequence.StandardKey | str | list[QKeySequence] | None = None,
    icon_name: str = "",
) -> QAction:
    action = QAction(icon(icon_name) if icon_name else None, text, window)
    if shortcut is not None:
        if isinstance(shortcut, list):
            action.setShortcuts(shortcut)
        else:
            action.setShortcut(shortcut)
    action.triggered.connect(lambda _=False: slot())
    menu.addAction(action)
    return action


def build(window: MainWindow) -> None:
    bar = window.menuBar()
    w = window
    file_menu = bar.addMenu("&File")
    _action(w, file_menu, "&New project…", w.new_project, QKeySequence.StandardKey.New, "new")
    _action(
        w, file_menu, "&Open project…", w.open_project_dialog, QKeySequence.StandardKey.Open, "open"
    )
    _action(w, file_menu, "Open &example", w.open_example, None, "example")
    w.recent_menu = file_menu.addMenu("Recent projects")
    w.recent_menu.aboutToShow.connect(lambda: _fill_recent(w))
    file_menu.addSeparator()
    w.project_actions = [
        _action(w, file_menu, "&Import files…", lambda: w.import_dialog(False), "Ctrl+I", "import"),
        _action(w, file_menu, "Import &folder…", lambda: w.import_dialog(True), "Ctrl+Shift+I"),
    ]
    w.project_actions.append(
        _action(w, file_menu, "&Re-link missing files…", lambda: relink_missing(w))
    )
    # Actions that write to the project: off for a read-only project.
    w.write_actions = list(w.project_actions)
    file_menu.addSeparator()
    w.project_actions.append(
        _action(w, file_menu, "&Close project", w.close_project, QKeySequence.StandardKey.Close)
    )
    _action(w, file_menu, "&Quit", w.close, QKeySequence.StandardKey.Quit)

    edit = bar.addMenu("&Edit")
    w.undo_action = _action(w, edit, "&Undo label", w.undo, QKeySequence.StandardKey.Undo, "undo")
    w.redo_action = _action(
        w,
        edit,
        "&Redo label",
        w.redo,
        [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")],
        "redo",
    )
    w.undo_stack.canUndoChanged.connect(w.undo_action.setEnabled)
    w.undo_stack.canRedoChanged.connect(w.redo_action.setEnabled)
    w.undo_stack.undoTextChanged.connect(lambda t: w.undo_action.setText(f"&Undo {t}".strip()))
    w.undo_stack.redoTextChanged.connect(lambda t: w.redo_action.setText(f"&Redo {t}".strip()))
    w.undo_action.setEnabled(False)
    w.redo_action.setEnabled(False)
    edit.addSeparator()
    w.project_actions += [
        _action(w, edit, "&Label set…", w.edit_label_set, "Ctrl+L"),
        _action(w, edit, "Set &group / patient of selected…", w.set_group_selected, "Ctrl+G"),
    ]
    split_menu = edit.addMenu("Set &split of selected")
    for split in ("train", "val", "test", None):
        _action(w, split_menu, split or "(none)", lambda s=split: w.set_split_selected(s))
    w.project_actions.append(split_menu.menuAction())
    w.write_actions += w.project_actions[-3:]
    edit.addSeparator()
    w.project_actions += [
        _action(w, edit, "Next item", lambda: _move(w, 1), "Space"),
        _action(w, edit, "Previous item", lambda: _move(w, -1), "Shift+Space"),
        _action(w, edit, "Next unlabelled item", lambda: _next_unlabelled(w), "N"),
    ]

    view = bar.addMenu("&View")
    w.view_menu = view
    sv = w.slice_view
    for number, name in enumerate(AXES):
        _action(w, view, f"{name.capitalize()}\t{name[0].upper()}", lambda n=number: sv.set_axis(n))
    _action(w, view, "Fit image to view\tCtrl+0", sv.reset_zoom, None, "reset_view")
    presets = view.addMenu("Window / level")
    for name in (AUTO, FULL, *PRESETS):
        label = (
            f"{name}  (W {PRESETS[name][0]:g} / L {PRESETS[name][1]:g})"
            if name in PRESETS
            else name
        )
        _action(w, presets, label, lambda n=name: sv.apply_preset(n))
    cmaps = view.addMenu("Colour map")
    for name in COLORMAPS:
        _action(w, cmaps, name, lambda n=name: sv.set_colormap(n))
    view.addSeparator()
    view.addAction(w.browser_dock.toggleViewAction())

    help_menu = bar.addMenu("&Help")
    _action(
        w,
        help_menu,
        "Keyboard shortcuts",
        lambda: QMessageBox.information(w, "Shortcuts", SHORTCUTS_HELP),
        "F1",
    )
    _action(w, help_menu, "About medview", lambda: _about(w))


def update_enabled(window: MainWindow) -> None:
    has_project = window.project is not None
    writable = has_project and not getattr(window.project, "read_only", False)
    for action in window.project_actions:
        action.setEnabled(has_project)
    for action in getattr(window, "write_actions", []):
        action.setEnabled(writable)
    window.label_bar.setEnabled(writable)


def _fill_recent(window: MainWindow) -> None:
    window.recent_menu.clear()
    recent = window.settings.recent_projects()
    for path in recent:
        action = window.recent_menu.addAction(Path(path).name)
        action.setToolTip(path)
        action.triggered.connect(lambda _=False, p=path: window.open_project(p))
    if not recent:
        window.recent_menu.addAction("(none)").setEnabled(False)


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
    duplicates = getattr(window, "duplicate_actions", None)
    if duplicates is not None:
        duplicates.add_menu(menu)
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
