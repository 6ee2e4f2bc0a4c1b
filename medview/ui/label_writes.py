"""Label writes from the window: a label counts as given only once it is committed.

Why not ``QUndoStack.push(command)`` with the write inside ``redo()``: PySide swallows an
exception raised in ``QUndoCommand.redo``/``undo``, so a failed write (a lock held by another
process, a full disk, a deleted project folder) left a phantom undo entry and no message.
Here the write happens first, on the GUI thread with a short lock wait (``GUI_WAIT_S``), and
only a committed write gets an undo entry. A write that fails stays queued, in order, and is
retried on a timer until it succeeds or the user discards it; the window shows it as *not
saved* meanwhile. Undo and redo are compare-and-set: they refuse to overwrite a label that
someone else (the command line, a colleague) changed after the command.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from medview.core.errors import MedviewError
from medview.core.label_store import LabelConflict
from medview.core.project import Project

GUI_WAIT_S = 0.25  # the longest the GUI thread waits for another writer's lock
RETRY_MS = 1500  # how often queued writes are tried again


class LabelCommand(QUndoCommand):
    """A committed label change: ``labels`` written, ``previous`` what the items had before.

    ``redo``/``undo`` do nothing themselves: :class:`LabelWriter` writes (and may refuse)
    before it moves the stack, so the stack only ever holds what is in the database."""

    def __init__(self, labels: dict[int, str | None], previous: dict[int, str | None]) -> None:
        name = next(iter(labels.values()))
        count = len(labels)
        what = f"{count} items" if count > 1 else "item"
        super().__init__(f"label {what} {name}" if name else f"clear label of {what}")
        self.labels = dict(labels)
        self.previous = dict(previous)

    def redo(self) -> None:  # the write was done (and checked) by LabelWriter
        pass

    def undo(self) -> None:
        pass


def describe_write_error(message: str) -> str:
    """The reason a user can act on, with SQLite's own words in brackets."""
    low = message.lower()
    found = re.search(r"cannot write the project \((.*)\)\s*$", message)
    detail = found.group(1) if found else message
    if "deleted or moved" in low or "replaced" in low or "read-only" in low:
        return message  # these already say what happened and name the project
    if "locked" in low or "busy" in low:
        return f"another program is writing to this project and holds its lock ({detail})"
    if "disk is full" in low or "no space" in low:
        return f"the disk is full ({detail})"
    if "i/o error" in low:
        return f"the disk reported an error ({detail})"
    return message


class LabelWriter(QObject):
    """Ordered, acknowledged label writes with retry, and conflict-checked undo/redo."""

    written = Signal(list)  # item ids whose label is now committed (write, undo or redo)
    failed = Signal(str)  # the queued writes could not be saved: the reason
    saved = Signal(int)  # every queued write is now saved (how many were waiting)
    refused = Signal(str)  # an undo or redo was refused: the reason

    def __init__(self, undo_stack: QUndoStack, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = undo_stack
        self.project: Project | None = None
        self.pending: list[dict[int, str | None]] = []
        self.last_error = ""
        self._max_waiting = 0
        self.timer = QTimer(self)
        self.timer.setInterval(RETRY_MS)
        self.timer.timeout.connect(self.flush)

    def set_project(self, project: Project | None) -> None:
        self.project = project
        self.pending.clear()
        self.last_error = ""
        self._max_waiting = 0
        self.timer.stop()

    # ------------------------------------------------------------------ writing
    def write(self, labels: dict[int, str | None]) -> bool:
        """Queue one change and write the queue in order. True when it is committed now."""
        if self.project is None or not labels:
            return False
        self.pending.append(dict(labels))
        return self.flush()

    def flush(self) -> bool:
        """Write what is queued, oldest first; stop at the first failure (order matters: the
        same item may be in two changes). True when nothing is left waiting."""
        if self.project is None:
            return not self.pending
        self._max_waiting = max(self._max_waiting, len(self.pending))
        while self.pending:
            labels = self.pending[0]
            try:
                previous = self.project.set_labels(labels, wait=GUI_WAIT_S)
            except MedviewError as exc:
                self.last_error = describe_write_error(str(exc))
                if not self.timer.isActive():
                    self.timer.start()
                self.failed.emit(self.last_error)
                return False
            self.pending.pop(0)
            self.undo_stack.push(LabelCommand(labels, previous))
            self.written.emit(list(labels))
        self.timer.stop()
        if self.last_error:  # there was a failure, and now all of it is saved
            waiting, self._max_waiting, self.last_error = self._max_waiting, 0, ""
            self.saved.emit(waiting)
        self._max_waiting = 0
        return True

    def discard(self) -> list[int]:
        """Drop the queued writes (the user chose to). Returns the items they touched."""
        ids = sorted(self.unsaved())
        self.pending.clear()
        self.timer.stop()
        self.last_error = ""
        self._max_waiting = 0
        return ids

    def unsaved(self) -> dict[int, str | None]:
        """Item id -> the label waiting to be written (the last queued one wins)."""
        result: dict[int, str | None] = {}
        for labels in self.pending:
            result.update(labels)
        return result

    # ------------------------------------------------------------------ undo and redo
    def undo(self) -> LabelCommand | None:
        """Undo the last committed change if nobody else changed those labels since."""
        return self._step(back=True)

    def redo(self) -> LabelCommand | None:
        return self._step(back=False)

    def _step(self, back: bool) -> LabelCommand | None:
        stack = self.undo_stack
        index = stack.index() - 1 if back else stack.index()
        if self.project is None or not 0 <= index < stack.count():
            return None
        what = "Undo" if back else "Redo"
        if self.pending:
            self.refused.emit(
                f"{what} waits: {len(self.unsaved())} label change(s) are not saved yet "
                "(save or discard them first)"
            )
            return None
        command = stack.command(index)
        if not isinstance(command, LabelCommand):
            stack.undo() if back else stack.redo()
            return None
        target, expected = (
            (command.previous, command.labels) if back else (command.labels, command.previous)
        )
        try:
            self.project.set_labels(target, expected=expected, wait=GUI_WAIT_S)
        except LabelConflict as exc:
            self.refused.emit(
                f"{what} refused: it would overwrite labels {exc}. Nothing was changed."
            )
            return None
        except MedviewError as exc:
            reason = describe_write_error(str(exc))
            self.refused.emit(f"{what} failed, nothing was changed: {reason}")
            return None
        stack.undo() if back else stack.redo()
        self.written.emit(list(target))
        return command
