"""The training form's presets (named starting points) and the cheap GPU check of its device line.

A preset sets a few fields; the rest keep their values. None means Auto chooses in the engine
(training/recipe/auto.py, docs/auto.md). ``detect_gpu`` never imports torch in the window's process.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

# Auto's three efforts (TrainConfig.effort): amounts of training work, not wall-clock times,
# so a busy machine gets the same plan, only later.
QUICK = "Quick check — Auto, about a minute on the example"
AUTO = "Standard — Auto, chosen from the data (recommended)"
THOROUGH = "Thorough — Auto, four times the training work of Standard"
PROTOCOL = "Protocol — nothing chosen for you"  # --no-auto: a published protocol as given
# None: Auto chooses (training/recipe/auto.py, docs/auto.md); the spin boxes show it as "Auto" (0).
PRESETS: dict[str, dict[str, Any]] = {
    QUICK: {
        "model": None,
        "epochs": None,
        "folds": 3,
        "batch_size": None,
        "lr": None,
        "train_layers": "all",
        "augment": None,
        "effort": "quick",
    },
    AUTO: {
        "model": None,
        "epochs": None,
        "folds": 5,
        "batch_size": None,
        "lr": None,
        "train_layers": "all",
        "augment": None,
        "effort": "standard",
    },
    THOROUGH: {
        "model": None,
        "epochs": None,
        "folds": 5,
        "batch_size": None,
        "lr": None,
        "train_layers": "all",
        "augment": None,
        "effort": "thorough",
    },
    PROTOCOL: {  # the manual defaults shown as values; what the form leaves unset stays off
        "model": None,
        "epochs": 30,
        "folds": 5,
        "batch_size": 8,
        "lr": 1e-3,
        "train_layers": "all",
        "augment": "none",
        "auto": False,
    },
    "3D volumes — MedicalNet ResNet10, fine-tune": {
        "model": "medicalnet_resnet10",
        "epochs": 30,
        "folds": 5,
        "batch_size": 4,
        "lr": 1e-4,
        "train_layers": "all",
        "augment": "light",
    },
    "3D — frozen encoder": {
        "model": "medicalnet_resnet10",
        "epochs": 20,
        "folds": 5,
        "batch_size": 4,
        "lr": 1e-3,
        "train_layers": "head",
        "augment": "light",
    },
    "2D — ResNet18": {
        "model": "resnet18",
        "epochs": 20,
        "folds": 5,
        "batch_size": 16,
        "lr": 1e-4,
        "train_layers": "all",
        "augment": "light",
    },
    "2D — MobileNetV2": {
        "model": "mobilenet_v2",
        "epochs": 20,
        "folds": 5,
        "batch_size": 16,
        "lr": 1e-4,
        "train_layers": "all",
        "augment": "light",
    },
}


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
