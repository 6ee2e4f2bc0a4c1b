"""Every action of the main window, declared once as an :class:`Action` record (the way
napari declares its ``Action``s): id, text, menu (or ``VIEW_ONLY``), group, shortcut and
when it is enabled (``needs_project`` / ``writes``).

The menus are built from these records (:mod:`medview.ui.menus`), the keys that widgets
bind themselves (slice view, label bar, key slice) are read from them with :func:`bind`,
and Help ▸ Keyboard shortcuts is generated from them (:func:`shortcuts_help`), so the help
cannot miss a key. Handlers stay with their widgets; only the declaration lives here."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence, QShortcut

Key = str | QKeySequence.StandardKey
VIEW_ONLY = ""  # no menu entry: a key bound by a widget


@dataclass(frozen=True)
class Action:
    """One window action. ``bound_by`` names the widget that binds the key itself (a
    QShortcut); its menu entry, if any, only shows the key."""

    id: str
    text: str
    menu: str = VIEW_ONLY  # "file", "edit", "view", "training", "help"
    group: str = ""  # a separator goes between groups of one menu
    shortcut: tuple[Key, ...] = ()
    needs_project: bool = False  # disabled on the welcome screen
    writes: bool = False  # writes to the project: disabled for a read-only one
    icon: str = ""
    bound_by: str = ""  # "slice_view", "label_bar", "key_slice"
    help: str = ""  # the help's words, when they differ from the text

    def sequences(self) -> list[QKeySequence]:
        keys: list[QKeySequence] = []
        for key in self.shortcut:
            if isinstance(key, str):
                keys.append(QKeySequence(key))
            else:
                keys.extend(QKeySequence.keyBindings(key))
        return keys

    def key_text(self) -> str:
        return ", ".join(
            k.toString(QKeySequence.SequenceFormat.NativeText) for k in self.sequences()
        )

    def described(self) -> str:
        return self.help or self.text.replace("&", "").rstrip("…")


_STD = QKeySequence.StandardKey
_PROJECT = {"needs_project": True}
_WRITES = {"needs_project": True, "writes": True}

ACTIONS: tuple[Action, ...] = (
    # File
    Action("file.new", "&New project…", "file", "project", (_STD.New,), icon="new"),
    Action("file.open", "&Open project…", "file", "project", (_STD.Open,), icon="open"),
    Action("file.example", "Open &example", "file", "project", icon="example"),
    Action("file.recent", "Recent projects", "file", "project"),
    Action(
        "file.import", "&Import files…", "file", "import", ("Ctrl+I",), icon="import", **_WRITES
    ),
    Action("file.import_folder", "Import &folder…", "file", "import", ("Ctrl+Shift+I",), **_WRITES),
    Action("file.relink", "&Re-link missing files…", "file", "import", **_WRITES),
    Action("file.close", "&Close project", "file", "close", (_STD.Close,), **_PROJECT),
    Action("file.quit", "&Quit", "file", "close", (_STD.Quit,)),
    # Edit
    Action("edit.undo", "&Undo label", "edit", "undo", (_STD.Undo,), icon="undo"),
    Action("edit.redo", "&Redo label", "edit", "undo", ("Ctrl+Shift+Z", "Ctrl+Y"), icon="redo"),
    Action("edit.label_set", "&Label set…", "edit", "sets", ("Ctrl+L",), **_WRITES),
    Action(
        "edit.group", "Set &group / patient of selected…", "edit", "sets", ("Ctrl+G",), **_WRITES
    ),
    Action("edit.split", "Set &split of selected", "edit", "sets", **_WRITES),
    Action("edit.next", "Next item", "edit", "move", ("Space",), **_PROJECT),
    Action("edit.previous", "Previous item", "edit", "move", ("Shift+Space",), **_PROJECT),
    Action("edit.next_unlabelled", "Next unlabelled item", "edit", "move", ("N",), **_PROJECT),
    # Labelling keys of the label bar: 1-9 are the classes' own keys (LabelClass.shortcut).
    Action(
        "label.class",
        "Label with class",
        shortcut=tuple(str(k) for k in range(1, 10)),
        bound_by="label_bar",
        help="label the selected item(s) with that class",
        **_WRITES,
    ),
    Action(
        "label.clear",
        "Clear the label",
        shortcut=("0", "Backspace"),
        bound_by="label_bar",
        **_WRITES,
    ),
    Action(
        "label.key_slice",
        "Use this slice for training (again: clear it)",
        shortcut=("K",),
        bound_by="key_slice",
        **_WRITES,
    ),
    # View (the slice view binds its own keys, so a SliceView works outside the window too)
    Action("view.axis.axial", "Axial", "view", "axis", ("A",), bound_by="slice_view"),
    Action("view.axis.coronal", "Coronal", "view", "axis", ("C",), bound_by="slice_view"),
    Action("view.axis.sagittal", "Sagittal", "view", "axis", ("S",), bound_by="slice_view"),
    Action(
        "view.fit",
        "Fit image to view",
        "view",
        "axis",
        ("Ctrl+0",),
        icon="reset_view",
        bound_by="slice_view",
    ),
    Action("view.window_level", "Window / level", "view", "axis"),
    Action("view.colormap", "Colour map", "view", "axis"),
    Action("view.slice.previous", "Previous slice", shortcut=("PgUp",), bound_by="slice_view"),
    Action("view.slice.next", "Next slice", shortcut=("PgDown",), bound_by="slice_view"),
    Action("view.slice.back10", "10 slices back", shortcut=("Shift+PgUp",), bound_by="slice_view"),
    Action("view.slice.on10", "10 slices on", shortcut=("Shift+PgDown",), bound_by="slice_view"),
    # Training (handlers: medview.ui.training_dock)
    Action("training.train", "&Train", "training", "run", ("Ctrl+T",), **_PROJECT),
    Action("training.cancel", "&Cancel run", "training", "run"),
    Action("training.predict", "&Predict unlabelled", "training", "run", **_PROJECT),
    Action("training.apply", "&Apply to folder…", "training", "run", **_PROJECT),
    Action(
        "training.label_next", "Label &next (least certain)", "training", "run", ("U",), **_PROJECT
    ),
    Action(
        "training.gradcam",
        "&Grad-CAM for this item",
        "training",
        "run",
        ("Ctrl+Shift+G",),
        **_PROJECT,
    ),
    Action(
        "training.overlay",
        "Grad-CAM &overlay (compute, or show / hide)",
        "training",
        "run",
        ("G",),
        **_PROJECT,
    ),
    Action("training.compare", "Compare &models…", "training", "studies", **_PROJECT),
    Action("training.tune", "T&une hyper-parameters…", "training", "studies", **_PROJECT),
    Action("training.open_study", "Open st&udy…", "training", "studies", **_PROJECT),
    # Help
    Action("help.shortcuts", "Keyboard shortcuts", "help", "help", ("F1",)),
    Action("help.about", "About medview", "help", "help"),
)

BY_ID: dict[str, Action] = {a.id: a for a in ACTIONS}

# Mouse gestures and the list's own keys: no action of ours binds them.
GESTURES = (
    ("↑ / ↓ (in the list)", "next / previous item"),
    ("Mouse wheel", "previous / next slice (Shift: 10 slices)"),
    ("Right-drag", "window/level (right: less contrast, up: brighter)"),
    ("Left-drag, Ctrl+wheel", "pan, zoom"),
)


def in_menu(menu: str) -> list[Action]:
    return [a for a in ACTIONS if a.menu == menu]


def bind(parent: QObject, action_id: str, slot: Callable[[], object]) -> list[QShortcut]:
    """Window-wide QShortcuts for the keys the record ``action_id`` declares, for a widget
    that binds them itself. Each is named after the record (``objectName``)."""
    return [bind_key(parent, action_id, key, slot) for key in BY_ID[action_id].sequences()]


def bind_key(
    parent: QObject, action_id: str, key: QKeySequence | str, slot: Callable[[], object]
) -> QShortcut:
    """One key of the record ``action_id`` (the label bar binds each class's own key)."""
    shortcut = QShortcut(QKeySequence(key), parent, context=Qt.ShortcutContext.WindowShortcut)
    shortcut.setObjectName(action_id)
    shortcut.activated.connect(slot)
    return shortcut


def shortcuts_help() -> str:
    """Help ▸ Keyboard shortcuts, as an HTML table: one row per record with a key."""
    rows = [
        f"<tr><td><b>{html.escape(a.key_text())}</b></td><td>{html.escape(a.described())}</td></tr>"
        for a in ACTIONS
        if a.key_text()  # a standard key this platform does not bind (Quit offscreen): none
    ]
    rows += [
        f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(t)}</td></tr>" for k, t in GESTURES
    ]
    return "<table cellpadding='3'>\n" + "\n".join(rows) + "\n</table>"
