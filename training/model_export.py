"""``medview export --run ID --format onnx|torchscript``: a run's model as a standalone file.

What is written to ``--out``:
- ``model.onnx`` or ``model.pt`` (TorchScript): the fold ensemble (mean of the folds' class
  probabilities) or, with ``--fold N``, that fold alone. Input: a float32 batch of
  preprocessed images ``(N, C, size, size[, size])``; output: ``(N, n_classes)`` probabilities
  in the order of ``classes``.
- ``model.json``: what a consumer needs to feed it: input shape, class names, the positive class
  of a binary model, and the preprocessing (resize, z-score or CT window, channels, which slice
  of a volume a 2D model sees), plus the measured agreement with the engine.

Every export is checked before it is reported done: the file is reloaded (onnxruntime for ONNX,
``torch.jit.load`` for TorchScript) and run on the same inputs as the engine's own modules; the
largest difference is written to model.json, and an export that differs by more than
``TOLERANCE`` is refused. No item, path, group or DICOM field goes into either file.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medview.core.errors import MedviewError
from medview.core.project import Project
from training.run_models import RunModels, ensemble_module, load_run_models

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-4  # largest absolute probability difference accepted between file and engine
FILE_NAMES = {"onnx": "model.onnx", "torchscript": "model.pt"}


class ModelExportError(MedviewError):
    """The model cannot be exported or does not reproduce the engine's outputs."""


def preprocessing_spec(models: RunModels) -> dict[str, Any]:
    """The preprocessing of training.transforms.preprocess, in words and numbers."""
    prep = models.prep
    spec: dict[str, Any] = {
        "size": prep.size,
        "resize": "bilinear with antialiasing to size x size"
        if prep.ndim == 2
        else "average-pool by floor(side / size) when larger, then trilinear to a size^3 cube",
        "channels": prep.channels,
        "channel_rule": "RGB averaged to gray for 1-channel models; gray repeated to 3 "
        "channels (after normalisation) for 3-channel models; alpha dropped",
        "slice_mode": "middle slice along z when a volume is given to this 2D model"
        if prep.ndim == 2
        else "whole volume, axes (z, y, x)",
    }
    if prep.ct_window is not None:
        level, width = prep.ct_window
        spec["normalisation"] = {
            "type": "ct_window",
            "level": level,
            "width": width,
            "formula": "(clip(x, level - width/2, level + width/2) - (level - width/2)) "
            "/ width * 2 - 1",
        }
    else:
        spec["normalisation"] = {
            "type": "zscore_per_image",
            "formula": "(x - mean(x)) / std(x), std below 1e-6 taken as 1",
        }
    return spec


def _engine_outputs(module: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return module(x).double().numpy()


def _reference_input(models: RunModels, batch: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn((batch, *models.prep.shape), generator=generator)


def _export_onnx(module: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    kwargs: dict[str, Any] = {
        "input_names": ["input"],
        "output_names": ["probabilities"],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # The TorchScript-based exporter: 5-10x faster than the torch.export one on these
            # small convnets and needs no extra package; deprecated in torch 2.9, so the new
            # exporter is the fallback should a later torch drop it.
            torch.onnx.export(
                module,
                (x,),
                str(path),
                dynamo=False,
                dynamic_axes={"input": {0: "batch"}, "probabilities": {0: "batch"}},
                **kwargs,
            )
        except Exception:
            torch.onnx.export(
                module,
                (x,),
                str(path),
                dynamo=True,
                dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}},
                **kwargs,
            )
    import onnx

    onnx.checker.check_model(str(path))


def _run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: x.astype(np.float32)})[0], dtype=np.float64)


def _export_torchscript(module: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, (x,), check_trace=False)
    traced.save(str(path))


def _run_torchscript(path: Path, x: np.ndarray) -> np.ndarray:
    loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return loaded(torch.from_numpy(x.astype(np.float32))).double().numpy()


def export_model(
    project: Project,
    run_id: str,
    out_dir: str | Path,
    fmt: str,
    fold: int | None = None,
) -> list[Path]:
    """Write the run's model as ``fmt`` plus model.json to ``out_dir``; returns the files."""
    if fmt not in FORMATS:
        raise ModelExportError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    models = load_run_models(project, run_id)
    module = ensemble_module(models, fold)
    out = _export_folder(out_dir)
    path = out / FILE_NAMES[fmt]
    check, got = _write_and_reload(fmt, module, models, path)
    difference = _verified_difference(module, check, got, path)
    spec = _model_spec(fmt, path, run_id, models, fold, difference)
    spec_path = out / "model.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return [path, spec_path]


def _export_folder(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelExportError(f"{out}: cannot create the export folder ({exc.strerror})") from exc
    return out


def _write_and_reload(
    fmt: str, module: torch.nn.Module, models: RunModels, path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Write the file, reload it and run it: (the check inputs, the file's outputs)."""
    x = _reference_input(models)
    try:
        if fmt == "onnx":
            _export_onnx(module, x, path)
            # A batch size other than the traced one proves the batch axis is really dynamic.
            check = _reference_input(models, 3).numpy()
            got = _run_onnx(path, check)
        else:
            _export_torchscript(module, x, path)
            check = _reference_input(models, 3).numpy()
            got = _run_torchscript(path, check)
    except OSError as exc:
        raise ModelExportError(f"{path}: cannot write the model ({exc.strerror})") from exc
    return check, got


def _verified_difference(
    module: torch.nn.Module, check: np.ndarray, got: np.ndarray, path: Path
) -> float:
    """The largest difference from the engine; over ``TOLERANCE`` the file is removed."""
    want = _engine_outputs(module, torch.from_numpy(check))
    difference = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
    if not difference <= TOLERANCE:
        path.unlink(missing_ok=True)
        raise ModelExportError(
            f"{path.name}: the exported model's outputs differ from medview's by "
            f"{difference:.2e} (allowed {TOLERANCE:.0e}); not exported"
        )
    return difference


def _model_spec(
    fmt: str,
    path: Path,
    run_id: str,
    models: RunModels,
    fold: int | None,
    difference: float,
) -> dict[str, Any]:
    """model.json: what a consumer needs to feed the file, and how it was verified."""
    return {
        "format": fmt,
        "file": path.name,
        "run_id": run_id,
        "model": models.model_name,
        "folds": [fold] if fold is not None else models.folds,
        "ensemble": "mean of the folds' class probabilities" if fold is None else "one fold",
        "input": {
            "name": "input",
            "shape": ["batch", *models.prep.shape],
            "dtype": "float32",
            "layout": "N, C, Y, X" if models.prep.ndim == 2 else "N, C, Z, Y, X",
        },
        "output": {"name": "probabilities", "shape": ["batch", len(models.classes)]},
        "classes": models.classes,
        "positive_class": models.classes[1] if len(models.classes) == 2 else None,
        "kind": models.kind,
        "preprocessing": preprocessing_spec(models),
        "verified": {
            "against": "medview's engine on the same random inputs",
            "max_abs_difference": difference,
            "tolerance": TOLERANCE,
            "runtime": "onnxruntime" if fmt == "onnx" else "torch.jit.load",
        },
    }
