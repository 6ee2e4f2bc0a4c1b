"""Work-arounds for bugs in the Qt binding, applied once when ``medview.ui`` is imported.

PySide6 6.12.0 returns ``True`` from ``Signal.emit()`` without taking a reference, so every
emit from Python lowers ``True``'s reference count by one. On Python 3.12+ ``True`` is
immortal and nothing happens; on 3.11 the interpreter aborts ("bool_dealloc: deallocating
True or False") after a few thousand emits: about a minute of scrolling through slices.
6.11.3 is not affected (checked with a refcount probe); pin around it where possible. Until
then we make ``True`` effectively immortal, as CPython 3.12 does for every singleton.
"""

from __future__ import annotations

import ctypes
import sys

_AFFECTED = {"6.12.0"}
_BOOST = 1 << 40  # more emits than any session can make; True is never freed anyway


def _true_refcount_cell() -> ctypes.c_ssize_t:
    # ob_refcnt is the first field of every CPython object.
    return ctypes.c_ssize_t.from_address(id(True))


def emit_leaks_true() -> bool:
    """Probe: does ``Signal.emit()`` drop a reference to ``True``?"""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        fired = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(20):
        probe.fired.emit()
    return sys.getrefcount(True) < before - 10


def apply() -> bool:
    """Apply the work-around where it is needed; returns whether it was applied."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    import PySide6

    if PySide6.__version__ not in _AFFECTED and not emit_leaks_true():
        return False
    _true_refcount_cell().value += _BOOST
    return True
