"""The training form: presets, the weights picker and the Advanced section's groups.

The fields come from one table (medview/ui/training_fields.py: TrainConfig field -> widget
kind, label, tooltip, group); this module lays them out in collapsible groups and turns the
widgets into a TrainConfig dict and back. It loads no torch (training.recipe.config holds the names
and defaults). The device line shows the GPU found by cheap checks (training_presets).
"""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from medview.jobs.targets import target
from medview.ui.form_widgets import Editor, make_editor
from medview.ui.train_on import config_from_form, values_for_form
from medview.ui.training_fields import AUTO_MODEL, AUTO_TEXT, FIELDS, GROUPS, TOP
from medview.ui.training_presets import AUTO, PRESETS, QUICK, detect_gpu

__all__ = ["AUTO", "AUTO_MODEL", "AUTO_TEXT", "PRESETS", "QUICK", "TrainingForm"]
# What a preset resets besides its own keys (a preset is a fresh start, not an overlay).
PRESET_BASE: dict[str, Any] = {"holdout": False, "size": None, "patience": 0}
# Groups shown open when Advanced is first opened: what most runs change.
OPEN_GROUPS = ("Model", "Data & splits")


class TrainingForm(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gpu_name: str | None = None
        self._probe: Any = None  # the device probe's JobBridge (Windows only)
        self.editors: dict[str, Editor] = {spec.name: make_editor(spec) for spec in FIELDS}
        self.sections: dict[str, tuple[QToolButton, QWidget]] = {}
        self._build()
        self.reset()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QFormLayout()
        self.preset_box = QComboBox()
        self.preset_box.addItems(list(PRESETS))
        self.preset_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.preset_box.setMinimumContentsLength(10)
        self.preset_box.setPlaceholderText("Custom (edited)")
        self.preset_box.currentTextChanged.connect(self.apply_preset)
        top.addRow("Preset", self.preset_box)
        for spec in FIELDS:
            if spec.group == TOP:
                top.addRow(spec.label, self.editors[spec.name].widget)
        layout.addLayout(top)
        self.advanced_button = _header("Advanced", bold=False)
        self.advanced_button.toggled.connect(self._toggle_advanced)
        layout.addWidget(self.advanced_button)
        self.advanced = QWidget()
        groups = QVBoxLayout(self.advanced)
        groups.setContentsMargins(8, 0, 0, 0)
        groups.setSpacing(2)
        self._labels: list[QLabel] = []
        for group in GROUPS:
            self._add_group(groups, group)
        # One label column for every group: the fields line up from group to group.
        width = max(label.sizeHint().width() for label in self._labels)
        for label in self._labels:
            label.setMinimumWidth(width)
        layout.addWidget(self.advanced)
        self.advanced.hide()
        for name, editor in self.editors.items():
            editor.on_change(lambda name=name: self._edited(name))
        self.changed.connect(self._mark_custom)
        self.set_gpu(detect_gpu())
        # Names older callers and tests use for the main widgets.
        self.model_box = self.editors["model"].widget
        self.epochs_spin = self.editors["epochs"].widget
        self.batch_spin = self.editors["batch_size"].widget
        self.device_box = self.editors["device"].widget
        self.weights_edit = self.editors["pretrained"].edit  # type: ignore[attr-defined]

    def _add_group(self, parent: QVBoxLayout, group: str) -> None:
        specs = [s for s in FIELDS if s.group == group]
        if not specs:
            return
        button = _header(group, bold=True)
        body = QWidget()
        form = QFormLayout(body)
        form.setContentsMargins(14, 0, 0, 6)
        # A narrow dock puts the field under its label instead of cutting it off.
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for spec in specs:
            label = QLabel(spec.label)
            label.setToolTip(spec.tooltip)
            self._labels.append(label)
            form.addRow(label, self.editors[spec.name].widget)
        button.toggled.connect(lambda on, b=button, w=body: _expand(b, w, on))
        button.setChecked(group in OPEN_GROUPS)
        _expand(button, body, group in OPEN_GROUPS)
        parent.addWidget(button)
        parent.addWidget(body)
        self.sections[group] = (button, body)

    def _toggle_advanced(self, on: bool) -> None:
        _expand(self.advanced_button, self.advanced, on)

    def show_field(self, name: str) -> None:
        """Open Advanced and the group holding field ``name``."""
        group = next(s.group for s in FIELDS if s.name == name)
        self.advanced_button.setChecked(True)
        if group in self.sections:
            self.sections[group][0].setChecked(True)

    def _edited(self, name: str) -> None:
        self._update_enabled()
        self.changed.emit()

    def _update_enabled(self) -> None:
        """Fields that only matter with another setting (gamma with StepLR) follow it."""
        for spec in FIELDS:
            if spec.depends and spec.enabled is not None:
                on = bool(spec.enabled(self.editors[spec.depends].value()))
                self.editors[spec.name].widget.setEnabled(on)

    # ------------------------------------------------------------------ device
    def probe_device(self) -> None:
        """Where no cheap check names the GPU (Windows), ask torch in a one-shot process."""
        if self.gpu_name is not None or not sys.platform.startswith("win") or self._probe:
            return
        from medview.ui.job_bridge import JobBridge

        self._probe = JobBridge({}, target("probe_device"), self, interval_ms=250)
        self._probe.finished.connect(
            lambda m: self.set_gpu(None if m.summary["device"] == "CPU" else m.summary["device"])
        )
        self._probe.start()

    def set_gpu(self, name: str | None) -> None:
        """Show what "auto" will use: the GPU's name, or CPU."""
        self.gpu_name = name
        box = self.editors["device"].widget
        box.setItemText(0, f"auto — {name}" if name else "auto — CPU")
        box.setToolTip(
            (f"Detected: {name}" if name else "No GPU detected: training runs on the CPU")
            + "\n(medview train --device)"
        )

    # ------------------------------------------------------------------ presets
    def _mark_custom(self) -> None:
        """The preset box names a preset only while the form still matches it."""
        preset = PRESETS.get(self.preset_box.currentText())
        if preset is None:
            return
        config = self.config()
        if any(config.get(k) != v for k, v in preset.items() if k != "model") or (
            preset["model"] is not None and config.get("model") != preset["model"]
        ):
            self.preset_box.blockSignals(True)
            self.preset_box.setCurrentIndex(-1)
            self.preset_box.blockSignals(False)

    def apply_preset(self, name: str) -> None:
        preset = PRESETS.get(name)
        if preset is None:
            return
        if self.preset_box.currentText() != name:
            self.preset_box.setCurrentText(name)
        blocked = self.blockSignals(True)
        self.set_values({**PRESET_BASE, "effort": "standard", "auto": True, **preset})
        self.blockSignals(blocked)
        self.changed.emit()

    # ------------------------------------------------------------------ values
    def config(self, kind: str | None = None) -> dict[str, Any]:
        """A TrainConfig dict (without ``project``). None: Auto chooses in the engine (it
        sees the items' sizes and the device). ``kind`` is the panel's choice for a project
        with both kinds; the form's own "Train on", or a model, wins over it."""
        config = {name: editor.value() for name, editor in self.editors.items()}
        if config["kind"] is None and config["model"] is None:
            config["kind"] = kind
        return config_from_form(config)  # Train on "slices": 3D items, slices set

    def problems(self) -> list[str]:
        """Fields holding text that is not a valid value (they read as None meanwhile)."""
        return [p for e in self.editors.values() if (p := e.problem())]

    def set_values(self, values: dict[str, Any]) -> None:
        """Set fields from a TrainConfig dict (Run again, presets, tests); other keys are
        ignored."""
        for name, value in values_for_form(values).items():
            editor = self.editors.get(name)
            if editor is not None:
                editor.set_value(value)
        self._update_enabled()

    def values(self) -> tuple[str, dict[str, Any]]:
        """The preset's name ("" once edited) and every field's value, for :meth:`restore`."""
        preset = self.preset_box.currentText() if self.preset_box.currentIndex() >= 0 else ""
        return preset, {name: editor.value() for name, editor in self.editors.items()}

    def restore(self, saved: tuple[str, dict[str, Any]]) -> None:
        """Put back what :meth:`values` returned (the panel keeps one per project)."""
        preset, values = saved
        blocked = self.blockSignals(True)
        for name, value in values.items():
            if name in self.editors:
                self.editors[name].set_value(value)
        self._update_enabled()
        self.preset_box.blockSignals(True)
        self.preset_box.setCurrentIndex(self.preset_box.findText(preset) if preset else -1)
        self.preset_box.blockSignals(False)
        self.blockSignals(blocked)
        self.changed.emit()

    def reset(self) -> None:
        """The form's defaults: TrainConfig's own, then the Auto preset."""
        from training.recipe.config import TrainConfig

        defaults = TrainConfig().to_dict()
        blocked = self.blockSignals(True)
        self.set_values({k: v for k, v in defaults.items() if k in self.editors})
        self.blockSignals(blocked)
        self.apply_preset(AUTO)


def _header(text: str, bold: bool) -> QToolButton:
    """A section header: an arrow and the name, flat (a checked tool button looks pressed)."""
    button = QToolButton(text=text.replace("&", "&&"), checkable=True)  # "&" is a mnemonic
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    button.setArrowType(Qt.ArrowType.RightArrow)
    button.setAutoRaise(True)
    weight = "bold" if bold else "normal"
    button.setStyleSheet(
        f"QToolButton {{ border: none; font-weight: {weight}; padding: 3px 0; }}"
        "QToolButton:hover { text-decoration: underline; }"
    )
    return button


def _expand(button: QToolButton, body: QWidget, on: bool) -> None:
    body.setVisible(on)
    button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
