"""Self-test checks of the environment: the stack imports, and the device training would use."""

from __future__ import annotations

import contextlib
from typing import Any

from medview.selftest.base import CheckFailed, Context, _first_line

# (import name, label shown to the user). The stack a frozen bundle must contain.
STACK: tuple[tuple[str, str], ...] = (
    ("numpy", "numpy"),
    ("PySide6", "PySide6"),
    ("pyqtgraph", "pyqtgraph"),
    ("torch", "torch"),
    ("torchvision", "torchvision"),
    ("monai", "monai"),
    ("pydicom", "pydicom"),
    ("nibabel", "nibabel"),
    ("tifffile", "tifffile"),
    ("PIL", "Pillow"),
    ("sklearn", "scikit-learn"),
    ("safetensors", "safetensors"),
    ("matplotlib", "matplotlib"),
)


def check_imports(ctx: Context) -> str:
    """Import every library of the stack and report its version."""
    found: list[str] = []
    missing: list[str] = []
    for module_name, label in STACK:
        try:
            module = __import__(module_name)
        except Exception as exc:  # ImportError, or an OSError from a missing shared library
            missing.append(f"{label} ({type(exc).__name__}: {_first_line(exc)})")
            continue
        version = _version_of(module, label)
        if module_name == "PySide6":
            with contextlib.suppress(Exception):
                from medview.ui.window_check import qt_version

                version += f", Qt {qt_version()}"
        found.append(f"{label} {version}")
    if missing:
        raise CheckFailed("cannot import " + "; ".join(missing))
    return ", ".join(found)


def check_device(ctx: Context) -> str:
    """Which device training would use, and a tiny computation on it."""
    import torch

    built = f"torch {torch.__version__}"
    if torch.version.cuda:
        built += f" (built with CUDA {torch.version.cuda})"
    if torch.cuda.is_available():
        device = torch.device("cuda", 0)
        name = f"CUDA: {torch.cuda.get_device_name(0)}"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
        name = "MPS (Apple GPU)"
    else:
        device = torch.device("cpu")
        name = f"CPU ({torch.get_num_threads()} threads)"
        if torch.version.cuda:
            name += ", no CUDA GPU found"
    x = torch.arange(16, dtype=torch.float32, device=device).reshape(4, 4)
    value = float((x @ x).sum().cpu())
    if value != 3920.0:  # sum of x @ x for that 4x4 ramp: a broken BLAS/driver shows here
        raise CheckFailed(f"wrong result of a matrix product on {device}: {value}")
    return f"{name}; {built}"


def _version_of(module: Any, label: str) -> str:
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as dist_version

            version = dist_version(label)
        except Exception:
            version = "?"
    return str(version)
