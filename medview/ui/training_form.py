"""The training form: presets, the Advanced section, the pretrained-weights picker.

It only turns widgets into a TrainConfig dict (training.config holds the names and defaults
and loads no torch). The device line shows the GPU found by cheap checks that never import
torch in the window's process (see ``detect_gpu``).
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from training.config import AUGMENT_PRESETS, MODELS_2D, MODELS_3D

AUTO_MODEL = "Auto (chosen from the data)"
AUTO = "Auto — chosen from the data (recommended)"
QUICK = "Quick check — Auto, about a minute"
# None: Auto chooses (training/auto.py, docs/auto.md); the spin boxes show it as "Auto" (0).
PRESETS: dict[str, dict[str, Any]] = {
    AUTO: {
        "model": None,
        "epochs": None,
        "folds": 5,
        "batch_size": None,
        "lr": None,
        "freeze_encoder": False,
        "augment": None,
        "quick": False,
    },
    QUICK: {
        "model": None,
        "epochs": None,
        "folds": 3,
        "batch_size": None,
        "lr": None,
        "freeze_encoder": False,
        "augment": None,
        "quick": True,
    },
    "3D volumes — MedicalNet ResNet10, fine-tune": {
        "model": "medicalnet_resnet10",
        "epochs": 30,
        "folds": 5,
        "batch_size": 4,
        "lr": 1e-4,
        "freeze_encoder": False,
        "augment": "light",
    },
    "3D — frozen encoder": {
        "model": "medicalnet_resnet10",
        "epochs": 20,
        "folds": 5,
        "batch_size": 4,
        "lr": 1e-3,
        "freeze_encoder": True,
        "augment": "light",
    },
    "2D — ResNet18": {
        "model": "resnet18",
        "epochs": 20,
        "folds": 5,
        "batch_size": 16,
        "lr": 1e-4,
        "freeze_encoder": False,
        "augment": "light",
    },
    "2D — MobileNetV2": {
        "model": "mobilenet_v2",
        "epochs": 20,
        "folds": 5,
        "batch_size": 16,
        "lr": 1e-4,
        "freeze_encoder": False,
        "augment": "light",
    },
}
AUTO_TEXT = "Auto"


def detect_gpu() -> str | None:
    """The GPU's name from files the driver publishes, or None when there is none to find.

    Linux: the NVIDIA driver lists each GPU under /proc/driver/nvidia/gpus/ (no nvidia-smi,
    no CUDA context). Apple silicon always has an MPS device. Elsewhere we cannot tell cheaply
    and say so; the worker resolves "auto" itself and reports the device it used.
    """
    if sys.platform.startswith("linux"):
        root = Path("/proc/driver/nvidia/gpus")
        names = []
        for info in sorted(root.glob("*/information")) if root.is_dir() else []:
            for line in info.read_text(errors="replace").splitlines():
                if line.startswith("Model:"):
                    names.append(line.partition(":")[2].strip())
        return ", ".join(names) or None
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "Apple GPU (MPS)"
    return None


class TrainingForm(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gpu_name: str | None = None
        self._probe: Any = None  # the device probe's JobBridge (Windows only)
        self._build()
        self.apply_preset(AUTO)

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QFormLayout()
        self.preset_box = QComboBox()
        self.preset_box.addItems(list(PRESETS))
        self.preset_box.currentTextChanged.connect(self.apply_preset)
        top.addRow("Preset", self.preset_box)
        self.weights_edit = QLineEdit(placeholderText="none (random start)")
        self.weights_edit.setToolTip(
            "Pretrained weights: a MedicalNet .pth or a torchvision state dict (.pth, "
            ".safetensors). Loaded without running any code from the file."
        )
        browse = QToolButton(text="…")
        browse.setToolTip("Choose a weights file")
        browse.clicked.connect(self._pick_weights)
        row = QHBoxLayout()
        row.addWidget(self.weights_edit, 1)
        row.addWidget(browse)
        top.addRow("Weights", row)
        layout.addLayout(top)

        self.advanced_button = QToolButton(text="Advanced", checkable=True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.toggled.connect(self._toggle_advanced)
        layout.addWidget(self.advanced_button)
        self.advanced = QWidget()
        form = QFormLayout(self.advanced)
        form.setContentsMargins(12, 0, 0, 0)
        self.model_box = QComboBox()
        self.model_box.addItem(AUTO_MODEL, None)
        for name in MODELS_3D:
            self.model_box.addItem(f"3D  {name}", name)
        for name in MODELS_2D:
            self.model_box.addItem(f"2D  {name}", name)
        form.addRow("Model", self.model_box)
        self.epochs_spin = QSpinBox(minimum=0, maximum=1000)
        self.epochs_spin.setSpecialValueText(AUTO_TEXT)
        form.addRow("Epochs", self.epochs_spin)
        self.mode_box = QComboBox()
        self.mode_box.addItems(["k-fold, folds:", "hold-out"])
        self.mode_box.setToolTip(
            "k-fold cross-validation, or one hold-out split (train / validation / test)"
        )
        self.folds_spin = QSpinBox(minimum=2, maximum=20)
        self.mode_box.currentIndexChanged.connect(lambda i: self.folds_spin.setEnabled(i == 0))
        split_row = QHBoxLayout()
        split_row.addWidget(self.mode_box, 1)
        split_row.addWidget(self.folds_spin)
        form.addRow("Validation", split_row)
        self.batch_spin = QSpinBox(minimum=0, maximum=1024)
        self.batch_spin.setSpecialValueText(AUTO_TEXT)
        self.batch_spin.setToolTip(
            "Auto: a short throughput probe on the CPU, the largest that fits on a GPU"
        )
        form.addRow("Batch size", self.batch_spin)
        self.lr_spin = QDoubleSpinBox(decimals=6, minimum=0.0, maximum=1.0, singleStep=1e-4)
        self.lr_spin.setSpecialValueText(AUTO_TEXT)
        form.addRow("Learning rate", self.lr_spin)
        self.size_spin = QSpinBox(minimum=0, maximum=1024, singleStep=16)
        self.size_spin.setSpecialValueText(AUTO_TEXT)
        self.size_spin.setToolTip("Input size in pixels/voxels per side (Auto: from the data)")
        form.addRow("Size", self.size_spin)
        self.augment_box = QComboBox()
        self.augment_box.addItem(AUTO_TEXT, None)
        for name in AUGMENT_PRESETS:
            self.augment_box.addItem(name, name)
        form.addRow("Augmentation", self.augment_box)
        self.quick_check = QCheckBox("short Auto run (about a minute)")
        self.quick_check.setToolTip("Auto with a smaller input and fewer epochs")
        form.addRow("Quick check", self.quick_check)
        self.weights_check = QCheckBox("weight classes by frequency")
        form.addRow("Class weighting", self.weights_check)
        self.near_dup_check = QCheckBox("keep near-duplicate images in one fold")
        self.near_dup_check.setToolTip(
            "Resized / re-encoded copies (perceptual hash) become split groups, like one patient"
        )
        form.addRow("Near duplicates", self.near_dup_check)
        self.freeze_check = QCheckBox("train only the new head")
        form.addRow("Frozen encoder", self.freeze_check)
        self.patience_spin = QSpinBox(minimum=0, maximum=200)
        self.patience_spin.setSpecialValueText("off")
        self.patience_spin.setSuffix(" epochs without improvement")
        form.addRow("Early stopping", self.patience_spin)
        self.device_box = QComboBox()
        for text, data in (
            ("auto", "auto"),
            ("CPU", "cpu"),
            ("CUDA GPU", "cuda"),
            ("Apple MPS", "mps"),
        ):
            self.device_box.addItem(text, data)
        form.addRow("Device", self.device_box)
        layout.addWidget(self.advanced)
        self.advanced.hide()
        for widget in (self.model_box, self.mode_box, self.augment_box, self.device_box):
            widget.currentIndexChanged.connect(lambda *_: self.changed.emit())
        for spin in (
            self.epochs_spin,
            self.folds_spin,
            self.batch_spin,
            self.size_spin,
            self.patience_spin,
        ):
            spin.valueChanged.connect(lambda *_: self.changed.emit())
        self.lr_spin.valueChanged.connect(lambda *_: self.changed.emit())
        self.freeze_check.toggled.connect(lambda *_: self.changed.emit())
        self.quick_check.toggled.connect(lambda *_: self.changed.emit())
        self.weights_edit.textChanged.connect(lambda *_: self.changed.emit())
        # Long entries (preset names, a GPU's full name) must not widen the dock.
        for box in (self.preset_box, self.model_box, self.mode_box, self.device_box):
            box.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            box.setMinimumContentsLength(10)
        self.preset_box.setPlaceholderText("Custom (edited)")
        self.changed.connect(self._mark_custom)
        self.set_gpu(detect_gpu())

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def _pick_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Pretrained weights", "", "Weights (*.pth *.pt *.safetensors);;All files (*)"
        )
        if path:
            self.weights_edit.setText(path)

    # ------------------------------------------------------------------ values
    def probe_device(self) -> None:
        """Where no cheap check names the GPU (Windows), ask torch in a one-shot process."""
        if self.gpu_name is not None or not sys.platform.startswith("win") or self._probe:
            return
        from medview.ui.job_bridge import JobBridge

        self._probe = JobBridge({}, "training.gui_jobs:probe_device", self, interval_ms=250)
        self._probe.finished.connect(
            lambda m: self.set_gpu(None if m.summary["device"] == "CPU" else m.summary["device"])
        )
        self._probe.start()

    def set_gpu(self, name: str | None) -> None:
        """Show what "auto" will use: the GPU's name, or CPU."""
        self.gpu_name = name
        self.device_box.setItemText(0, f"auto — {name}" if name else "auto — CPU")
        self.device_box.setToolTip(
            f"Detected: {name}" if name else "No GPU detected: training runs on the CPU"
        )

    def _mark_custom(self) -> None:
        """The preset box names a preset only while the form still matches it."""
        name = self.preset_box.currentText()
        preset = PRESETS.get(name)
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
        index = self.model_box.findData(preset["model"]) if preset["model"] else 0
        self.model_box.setCurrentIndex(max(index, 0))
        self.epochs_spin.setValue(preset["epochs"] or 0)
        self.mode_box.setCurrentIndex(0)
        self.folds_spin.setValue(preset["folds"])
        self.batch_spin.setValue(preset["batch_size"] or 0)
        self.lr_spin.setValue(preset["lr"] or 0.0)
        self.size_spin.setValue(0)
        self.augment_box.setCurrentIndex(max(self.augment_box.findData(preset["augment"]), 0))
        self.freeze_check.setChecked(preset["freeze_encoder"])
        self.quick_check.setChecked(bool(preset.get("quick")))
        self.patience_spin.setValue(0)
        self.blockSignals(blocked)
        self.changed.emit()

    def config(self, kind: str | None = None) -> dict[str, Any]:
        """A TrainConfig dict (without ``project``). None: Auto chooses in the engine (it
        sees the items' sizes and the device); ``kind`` is accepted for older callers."""
        holdout = self.mode_box.currentIndex() == 1
        config: dict[str, Any] = {
            "model": self.model_box.currentData(),
            "epochs": self.epochs_spin.value() or None,
            "folds": self.folds_spin.value(),
            "holdout": holdout,
            "batch_size": self.batch_spin.value() or None,
            "lr": float(self.lr_spin.value()) or None,
            "size": self.size_spin.value() or None,
            "augment": self.augment_box.currentData(),
            "quick": self.quick_check.isChecked(),
            "kind": kind if self.model_box.currentData() is None else None,
            "class_weights": self.weights_check.isChecked(),
            "near_duplicate_groups": self.near_dup_check.isChecked(),
            "freeze_encoder": self.freeze_check.isChecked(),
            "patience": self.patience_spin.value(),
            "device": self.device_box.currentData(),
            "pretrained": self.weights_edit.text().strip() or None,
        }
        return config

    def set_values(self, values: dict[str, Any]) -> None:
        """Set Advanced fields from a dict (tests and scripted demos)."""
        if "model" in values:
            self.model_box.setCurrentIndex(max(self.model_box.findData(values["model"]), 0))
        spins = {
            "epochs": self.epochs_spin,
            "folds": self.folds_spin,
            "batch_size": self.batch_spin,
            "size": self.size_spin,
            "patience": self.patience_spin,
        }
        for key, spin in spins.items():
            if key in values:
                spin.setValue(int(values[key] or 0))
        if "lr" in values:
            self.lr_spin.setValue(float(values["lr"] or 0.0))
        if "augment" in values:
            self.augment_box.setCurrentIndex(max(self.augment_box.findData(values["augment"]), 0))
        if "quick" in values:
            self.quick_check.setChecked(bool(values["quick"]))
        if "holdout" in values:
            self.mode_box.setCurrentIndex(1 if values["holdout"] else 0)
        if "class_weights" in values:
            self.weights_check.setChecked(bool(values["class_weights"]))
        if "freeze_encoder" in values:
            self.freeze_check.setChecked(bool(values["freeze_encoder"]))
        if "near_duplicate_groups" in values:
            self.near_dup_check.setChecked(bool(values["near_duplicate_groups"]))
        if "device" in values:
            self.device_box.setCurrentIndex(max(self.device_box.findData(values["device"]), 0))
        if "pretrained" in values:
            self.weights_edit.setText(str(values["pretrained"] or ""))

    def reset(self) -> None:
        """The form's defaults: the Auto preset, no weights, auto device."""
        self.set_values({"class_weights": False, "device": "auto", "pretrained": None})
        self.apply_preset(AUTO)
