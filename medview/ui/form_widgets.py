"""Widgets for the training form's fields (medview/ui/training_fields.py): one editor per kind.

Each editor owns one widget and turns it into a TrainConfig value and back
(``value()`` / ``set_value()``); ``on_change`` connects a callback to whatever signal the
widget has. A text box holding something that is not a number reads as None and is marked
(``problem()``), so a typo never reaches the engine as a string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from medview.ui.training_fields import Field

_BAD = "QLineEdit { border: 1px solid #c62828; }"


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type: a combo's False must not match the value 0 (or None)."""
    return type(a) is type(b) and a == b


class Editor:
    widget: QWidget

    def __init__(self, spec: Field) -> None:
        self.spec = spec

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def on_change(self, callback: Callable[[], None]) -> None:
        raise NotImplementedError

    def problem(self) -> str | None:
        return None


class ChoiceEditor(Editor):
    def __init__(self, spec: Field) -> None:
        super().__init__(spec)
        self.widget = box = QComboBox()
        for text, data in spec.choices:
            box.addItem(text, data)
        # Long entries (a GPU's full name, model names) must not widen the dock.
        box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        box.setMinimumContentsLength(10)

        if spec.editable:  # a choice, or a value typed in (never added to the list)
            box.setEditable(True)
            box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)

    def value(self) -> Any:
        if self.spec.editable:
            text = self.widget.currentText().strip()
            shown = [t for t, _ in self.spec.choices]
            return self.spec.choices[shown.index(text)][1] if text in shown else (text or None)
        index = self.widget.currentIndex()
        return self.spec.choices[index][1] if index >= 0 else None

    def set_value(self, value: Any) -> None:
        for i, (_text, data) in enumerate(self.spec.choices):
            if _same(data, value):
                self.widget.setCurrentIndex(i)
                return
        if self.spec.editable and isinstance(value, str):
            self.widget.setEditText(value)

    def on_change(self, callback: Callable[[], None]) -> None:
        self.widget.currentIndexChanged.connect(lambda *_: callback())
        if self.spec.editable:
            self.widget.editTextChanged.connect(lambda *_: callback())


class BoolEditor(Editor):
    def __init__(self, spec: Field) -> None:
        super().__init__(spec)
        self.widget = QCheckBox(spec.text)

    def value(self) -> bool:
        return self.widget.isChecked()

    def set_value(self, value: Any) -> None:
        self.widget.setChecked(bool(value))

    def on_change(self, callback: Callable[[], None]) -> None:
        self.widget.toggled.connect(lambda *_: callback())


class IntEditor(Editor):
    """Optional: the value one step below ``lo`` is None, shown as ``none_text``."""

    def __init__(self, spec: Field) -> None:
        super().__init__(spec)
        lowest = int(spec.lo) - (1 if spec.optional else 0)
        self.widget = spin = QSpinBox(minimum=lowest, maximum=int(spec.hi))
        spin.setSingleStep(int(spec.step))
        if spec.optional or spec.special:
            spin.setSpecialValueText(spec.none_text or spec.special or "")
        if spec.text:
            spin.setSuffix(spec.text)

    def value(self) -> int | None:
        value = self.widget.value()
        return None if self.spec.optional and value == self.widget.minimum() else value

    def set_value(self, value: Any) -> None:
        self.widget.setValue(self.widget.minimum() if value is None else int(value))

    def on_change(self, callback: Callable[[], None]) -> None:
        self.widget.valueChanged.connect(lambda *_: callback())


class NumberEditor(Editor):
    def __init__(self, spec: Field) -> None:
        super().__init__(spec)
        self.widget = _double_spin(spec)

    def value(self) -> float:
        return round(self.widget.value(), self.spec.decimals)

    def set_value(self, value: Any) -> None:
        self.widget.setValue(float(value))

    def on_change(self, callback: Callable[[], None]) -> None:
        self.widget.valueChanged.connect(lambda *_: callback())


def _double_spin(spec: Field) -> QDoubleSpinBox:
    spin = QDoubleSpinBox(decimals=spec.decimals, minimum=spec.lo, maximum=spec.hi)
    spin.setSingleStep(spec.step)
    return spin


def _number_edit(placeholder: str) -> QLineEdit:
    edit = QLineEdit(placeholderText=placeholder)
    validator = QDoubleValidator(edit)
    validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
    edit.setValidator(validator)
    return edit


def _parse(edit: QLineEdit) -> tuple[float | None, bool]:
    """(value, ok): empty is (None, True); text that is not a number is (None, False)."""
    text = edit.text().strip()
    if not text:
        return None, True
    try:
        return float(text), True
    except ValueError:
        return None, False


def _show_number(value: Any) -> str:
    return "" if value is None else f"{float(value):g}"


class FloatEditor(Editor):
    """A number typed as text (1e-4 reads better than 0.000100); empty is None."""

    def __init__(self, spec: Field) -> None:
        super().__init__(spec)
        self.widget = _number_edit(spec.none_text or "")
        self.widget.textChanged.connect(self._mark)

    def value(self) -> float | None:
        return _parse(self.widget)[0]

    def set_value(self, value: Any) -> None:
        self.widget.setText(_show_number(value))

    def problem(self) -> str | None:
        return None if _parse(self.widget)[1] else f"{self.spec.label}: not a number"

    def _mark(self) -> None:
        self.widget.setStyleSheet(_BAD if self.problem() else "")

    def on_change(self, callback: Callable[[], None]) -> None:
        self.widget.textChanged.connect(lambda *_: callback())


class PairEditor(Editor):
    """Two decimal spin boxes side by side (``text`` names the parts: "test|val")."""

    def __init__(self, spec: Field) -> None:
        super().__init__(spec)
        self.widget = QWidget()
        self.parts = [_double_spin(spec), _double_spin(spec)]
        _pair_row(self.widget, spec, self.parts)

    def value(self) -> tuple[float, float]:
        first, second = (round(p.value(), self.spec.decimals) for p in self.parts)
        return (first, second)

    def set_value(self, value: Any) -> None:
        for part, v in zip(self.parts, value, strict=True):
            part.setValue(float(v))

    def on_change(self, callback: Callable[[], None]) -> None:
        for part in self.parts:
            part.valueChanged.connect(lambda *_: callback())


def _pair_row(widget: QWidget, spec: Field, parts: list[Any]) -> None:
    row = QHBoxLayout(widget)
    row.setContentsMargins(0, 0, 0, 0)
    for name, part in zip(spec.text.split("|"), parts, strict=True):
        row.addWidget(QLabel(name))
        row.addWidget(part, 1)


class OptionalPairEditor(Editor):
    """Two numbers as text; both empty is None (one empty is a problem)."""

    def __init__(self, spec: Field) -> None:
        super().__init__(spec)
        self.widget = QWidget()
        self.parts = [_number_edit(spec.none_text or ""), _number_edit("")]
        _pair_row(self.widget, spec, self.parts)
        for part in self.parts:
            part.textChanged.connect(self._mark)

    def value(self) -> tuple[float, float] | None:
        (a, _), (b, _) = (_parse(p) for p in self.parts)
        return None if a is None or b is None else (a, b)

    def set_value(self, value: Any) -> None:
        values = value if value is not None else (None, None)
        for part, v in zip(self.parts, values, strict=True):
            part.setText(_show_number(v))

    def problem(self) -> str | None:
        parsed = [_parse(p) for p in self.parts]
        if not all(ok for _, ok in parsed):
            return f"{self.spec.label}: not a number"
        if (parsed[0][0] is None) != (parsed[1][0] is None):
            return f"{self.spec.label}: give both values (or neither)"
        return None

    def _mark(self) -> None:
        bad = self.problem()
        for part in self.parts:
            part.setStyleSheet(_BAD if bad else "")

    def on_change(self, callback: Callable[[], None]) -> None:
        for part in self.parts:
            part.textChanged.connect(lambda *_: callback())


class TextEditor(Editor):
    def __init__(self, spec: Field) -> None:
        super().__init__(spec)
        self.edit = QLineEdit(placeholderText=spec.none_text or "")
        self.widget = self.edit

    def value(self) -> str | None:
        return self.edit.text().strip() or None

    def set_value(self, value: Any) -> None:
        self.edit.setText("" if value is None else str(value))

    def on_change(self, callback: Callable[[], None]) -> None:
        self.edit.textChanged.connect(lambda *_: callback())


class PathEditor(TextEditor):
    """A file path with a "…" picker button."""

    def __init__(self, spec: Field) -> None:
        super().__init__(spec)
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        browse = QToolButton(text="…")
        browse.setToolTip("Choose a file")
        browse.clicked.connect(self._pick)
        row.addWidget(self.edit, 1)
        row.addWidget(browse)

    def _pick(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.widget, self.spec.label, "", "Weights (*.pth *.pt *.safetensors);;All files (*)"
        )
        if path:
            self.edit.setText(path)


class ModeCountEditor(Editor):
    """A mode from a drop-down, and a count that only one mode (``COUNTED``) takes: the value
    reads ``mode`` or ``COUNTED:N`` as on the command line."""

    CHOICES: tuple[tuple[str, str], ...] = ()
    COUNTED = ""
    DEFAULT = ""  # the value of an empty setting
    START = 1  # the count shown before any is set
    SUFFIX = ""

    def __init__(self, spec: Field) -> None:
        super().__init__(spec)
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        self.box = QComboBox()
        for text, data in self.CHOICES:
            self.box.addItem(text, data)
        self.count = QSpinBox(minimum=max(1, int(spec.lo)), maximum=int(spec.hi))
        self.count.setSuffix(self.SUFFIX)
        self.count.setValue(self.START)
        self.box.currentIndexChanged.connect(lambda *_: self._enable())
        row.addWidget(self.box, 1)
        row.addWidget(self.count)
        self._enable()

    def _enable(self) -> None:
        self.count.setEnabled(self.box.currentData() == self.COUNTED)

    def value(self) -> str:
        mode = str(self.box.currentData())
        return f"{mode}:{self.count.value()}" if mode == self.COUNTED else mode

    def set_value(self, value: Any) -> None:
        mode, _, count = str(value or self.DEFAULT).partition(":")
        mode = self._mode(mode, count)
        if mode == self.COUNTED and count.isdigit():
            self.count.setValue(int(count))
        self.box.setCurrentIndex(max(0, self.box.findData(mode)))

    def _mode(self, mode: str, count: str) -> str:
        return mode

    def on_change(self, callback: Callable[[], None]) -> None:
        self.box.currentIndexChanged.connect(lambda *_: callback())
        self.count.valueChanged.connect(lambda *_: callback())


class TrainLayersEditor(ModeCountEditor):
    """``--train-layers``: all / head / last:N as a drop-down and a block count (enabled for
    "last N blocks" only)."""

    CHOICES = (("all layers", "all"), ("only the new head", "head"), ("the head + last", "last"))
    COUNTED, DEFAULT, START, SUFFIX = "last", "all", 2, " blocks"

    def _mode(self, mode: str, count: str) -> str:
        return "head" if mode == "last" and count == "0" else mode  # last:0 trains the head only


class SlicesEditor(ModeCountEditor):
    """Slice mode's ``slices`` in words, with the number as a field: every slice with content
    (``all``), the N middle slices (``middle:N``), the key slice (``key``). It was a text box
    with the command line's "all  (or middle:N, key)"."""

    CHOICES = (
        ("every slice with content", "all"),
        ("the middle slices:", "middle"),
        ("the key slice (K), else the middle one", "key"),
    )
    COUNTED, DEFAULT, START = "middle", "all", 8

    def __init__(self, spec: Field) -> None:
        super().__init__(spec)
        self.box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.box.setMinimumContentsLength(10)


EDITORS: dict[str, type[Editor]] = {
    "choice": ChoiceEditor,
    "bool": BoolEditor,
    "int": IntEditor,
    "number": NumberEditor,
    "float": FloatEditor,
    "pair": PairEditor,
    "optional_pair": OptionalPairEditor,
    "text": TextEditor,
    "path": PathEditor,
    "layers": TrainLayersEditor,
    "slices": SlicesEditor,
}


def make_editor(spec: Field) -> Editor:
    editor = EDITORS[spec.kind](spec)
    editor.widget.setToolTip(spec.tooltip)
    return editor
