"""The window's actions are declared once (medview.ui.actions): Help ▸ Keyboard shortcuts
names every key the window binds, and what needs a project is off on the welcome screen."""

from __future__ import annotations

import html

import pytest
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QMessageBox

from medview.core.project import Project
from medview.ui.actions import ACTIONS
from medview.ui.main_window import MainWindow


def _help_text(window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> str:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda _w, _t, text: shown.append(text))
    window.menus.actions["help.shortcuts"].trigger()
    (text,) = shown
    return html.unescape(text)


def _bound_keys(window: MainWindow) -> set[str]:
    """Every key of every QAction and QShortcut of the window, as the help writes it."""
    keys: list[QKeySequence] = []
    for action in window.findChildren(QAction):
        keys += action.shortcuts()
    for shortcut in window.findChildren(QShortcut):
        keys += shortcut.keys()
    native = QKeySequence.SequenceFormat.NativeText
    return {k.toString(native) for k in keys if not k.isEmpty()}


def test_help_lists_every_key_the_window_binds(qtbot, project: Project, monkeypatch) -> None:  # noqa: ANN001
    window = MainWindow()
    qtbot.addWidget(window)
    window.set_project(project)  # the label bar binds the classes' keys 1, 2
    keys = _bound_keys(window)
    assert {"K", "G", "U", "N", "Ctrl+T", "A", "Ctrl+0", "1", "2", "Backspace"} <= keys
    text = _help_text(window, monkeypatch)
    missing = [key for key in sorted(keys) if f"<b>{key}" not in text and f", {key}" not in text]
    assert missing == []


def _objects_of(window: MainWindow, action_id: str) -> list[QAction | QShortcut]:
    found: list[QAction | QShortcut] = [
        *window.findChildren(QAction, action_id),
        *window.findChildren(QShortcut, action_id),
    ]
    submenu = window.menus.submenus.get(action_id)
    if submenu is not None:
        found.append(submenu.menuAction())
    return found


def test_what_needs_a_project_is_off_on_the_welcome_screen(qtbot, project: Project) -> None:  # noqa: ANN001
    window = MainWindow()
    qtbot.addWidget(window)
    # The label bar binds each class's key once a project is open; the rest exist now.
    records = [a for a in ACTIONS if a.needs_project and a.id != "label.class"]
    assert any(a.menu == "training" for a in records)  # the Training menu follows the rules
    for record in records:
        objects = _objects_of(window, record.id)
        assert objects, record.id
        assert not any(o.isEnabled() for o in objects), record.id
    window.set_project(project)
    for record in records:
        assert all(o.isEnabled() for o in _objects_of(window, record.id)), record.id
    assert all(s.isEnabled() for s in window.findChildren(QShortcut, "label.class"))
    window.close_project()
    assert not window.training.actions["training.train"].isEnabled()  # Ctrl+T


def test_read_only_project_disables_what_writes(qtbot, project: Project) -> None:  # noqa: ANN001
    folder = project.folder
    project.close()
    window = MainWindow()
    qtbot.addWidget(window)
    window.set_project(Project.open(folder, read_only=True))
    writes = [a for a in ACTIONS if a.writes]
    for record in writes:
        objects = _objects_of(window, record.id)
        assert objects, record.id
        assert not any(o.isEnabled() for o in objects), record.id
    assert window.menus.actions["file.close"].isEnabled()
