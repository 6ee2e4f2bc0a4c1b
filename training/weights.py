"""Loading pretrained weights safely, and saving/loading fold weights as safetensors.

Accepted files: ``.safetensors``; or a torch file that ``torch.load(weights_only=True)`` accepts
(tensors, dicts, lists, numbers: no code). MedicalNet checkpoints (``{"state_dict": ...}`` with
``module.`` prefixes from DataParallel) and plain torchvision state dicts are unwrapped. A file
whose pickle would run code or build arbitrary objects is refused, never unpickled.

Only tensors whose name and shape match the encoder are loaded; the new head is always left
freshly initialised, and heads the published files carry that our models lack (ModelSpec's
``file_extras``: MedicalNet's ``conv_seg``, Inception v3's ``AuxLogits``) are skipped.
A file that matches too little of the encoder is refused with a message
that says what did not match, because a silently ignored pretrained file is worse than none.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medview.core.errors import MedviewError
from training.model_specs import ModelSpec, spec

MIN_ENCODER_FRACTION = 0.5  # refuse files that cover less than this share of encoder tensors
MAX_FOREIGN_FRACTION = 0.05  # ...or whose tensors largely do not exist in the model
DOWNLOAD = "download"


class WeightsError(MedviewError):
    """A pretrained-weight file that cannot or must not be loaded."""


@dataclass
class LoadReport:
    source: str
    loaded: list[str] = field(default_factory=list)
    skipped_head: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model
    mismatched: list[str] = field(default_factory=list)  # same name, other shape
    missing: list[str] = field(default_factory=list)  # encoder tensors the file lacks

    def summary(self) -> str:
        return (
            f"pretrained {Path(self.source).name}: loaded {len(self.loaded)} tensors, "
            f"kept new head ({len(self.skipped_head)} file tensors skipped), "
            f"{len(self.missing)} encoder tensors not in file, {len(self.unexpected)} unused"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "loaded": len(self.loaded),
            "loaded_layers": sorted({k.rsplit(".", 1)[0] for k in self.loaded}),
            "missing": self.missing[:50],
            "unexpected": self.unexpected[:50],
        }


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a weight file, unwrapped and with ``module.`` prefixes removed."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: pretrained weight file not found")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            raw: Any = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(f"{path}: not a valid safetensors file ({exc})") from exc
    else:
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise WeightsError(
                f"{path}: refused: the file holds Python objects or code, not only weights "
                "(only plain state dicts or .safetensors are loaded)"
            ) from exc
        except (RuntimeError, EOFError, OSError, ValueError) as exc:
            raise WeightsError(f"{path}: not a readable weight file ({exc})") from exc
    for key in ("state_dict", "model_state_dict", "model", "net"):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
            break
    if not isinstance(raw, dict) or not raw:
        raise WeightsError(f"{path}: no state dict found in the file")
    tensors: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            continue
        name = str(key)
        while name.startswith("module."):
            name = name[len("module.") :]
        tensors[name] = value
    if not tensors:
        raise WeightsError(f"{path}: the file holds no tensors")
    return tensors


def load_pretrained(model: nn.Module, model_name: str, path: str | Path) -> LoadReport:
    """Copy matching encoder tensors from ``path`` into ``model``; refuse a mismatched file."""
    if str(path) == DOWNLOAD:
        return _download(model, model_name)
    state = read_state_dict(path)
    return apply_state(model, model_name, state, str(path))


def apply_state(
    model: nn.Module, model_name: str, state: dict[str, torch.Tensor], source: str
) -> LoadReport:
    """Copy the tensors of ``state`` that fit the encoder; refuse a file that does not fit."""
    own = model.state_dict()
    report = sort_tensors(spec(model_name), own, state, source)
    _check_fit(report, own, model_name, len(state))
    with torch.no_grad():
        for key in report.loaded:
            own[key].copy_(state[key].to(own[key].dtype))
    return report


def sort_tensors(
    model_spec: ModelSpec,
    own: dict[str, torch.Tensor],
    state: dict[str, torch.Tensor],
    source: str,
) -> LoadReport:
    """Which file tensors load, which belong to a head (ours, or one the published files
    carry and our model lacks: MedicalNet's segmentation head, Inception's AuxLogits), which
    have no place, and which encoder tensors the file lacks."""
    report = LoadReport(source)
    heads = (model_spec.head, *model_spec.file_extras)
    for key, tensor in state.items():
        if any(key == h or key.startswith(h + ".") for h in heads):
            report.skipped_head.append(key)
        elif key not in own:
            report.unexpected.append(key)
        elif own[key].shape != tensor.shape:
            report.mismatched.append(
                f"{key}: file {tuple(tensor.shape)}, model {tuple(own[key].shape)}"
            )
        else:
            report.loaded.append(key)
    report.loaded.sort()
    loaded = set(report.loaded)
    report.missing = [
        k for k in _encoder_keys(own, model_spec.head) if k not in loaded and not _counter(k)
    ]
    return report


def _encoder_keys(own: dict[str, torch.Tensor], head: str) -> list[str]:
    return [k for k in own if not k.startswith(head + ".")]


def _counter(key: str) -> bool:
    return key.endswith("num_batches_tracked")


def _check_fit(
    report: LoadReport, own: dict[str, torch.Tensor], model_name: str, n_file: int
) -> None:
    """Refuse a file whose shapes differ, that covers too little of the encoder, or whose
    tensors largely do not exist in the model: a silently ignored file is worse than none."""
    counted = [k for k in _encoder_keys(own, spec(model_name).head) if not _counter(k)]
    fraction = len([k for k in report.loaded if not _counter(k)]) / max(1, len(counted))
    foreign = len(report.unexpected) / max(1, n_file - len(report.skipped_head))
    if report.mismatched:
        detail = "; ".join(report.mismatched[:3])
    elif fraction < MIN_ENCODER_FRACTION:
        detail = (
            f"only {fraction:.0%} of the encoder's tensors are in the file "
            f"(e.g. missing {', '.join(report.missing[:3])})"
        )
    elif foreign > MAX_FOREIGN_FRACTION:
        detail = (
            f"{len(report.unexpected)} tensors in the file have no place in the model "
            f"(e.g. {', '.join(report.unexpected[:3])}): made for another architecture?"
        )
    else:
        return
    raise WeightsError(f"{report.source}: does not fit {model_name}: {detail}")


def _download(model: nn.Module, model_name: str) -> LoadReport:
    """The libraries' own pretrained weights (needs network): torchvision's weights API for 2D
    models, MONAI's MedicalNet download (Hugging Face) for the 3D ResNets."""
    model_spec = spec(model_name)
    try:
        if model_spec.weights == "medicalnet":
            from monai.networks.nets.resnet import get_pretrained_resnet_medicalnet

            depth = int(model_spec.params["depth"])
            state = get_pretrained_resnet_medicalnet(depth, device="cpu", datasets23=True)
            state = {k.removeprefix("module."): v for k, v in state.items()}
        elif model_spec.weights == "torchvision":
            import torchvision

            weights = torchvision.models.get_model_weights(model_name).DEFAULT
            state = weights.get_state_dict(progress=False)
        else:
            raise WeightsError(f"{model_name} has no published pretrained weights")
    except WeightsError:
        raise
    except Exception as exc:  # network, hub or cache failures: one clear line for the user
        raise WeightsError(f"cannot download pretrained weights for {model_name}: {exc}") from exc
    return apply_state(model, model_name, state, f"{DOWNLOAD}:{model_name}")


def save_weights(model: nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}
    save_file(state, str(path), metadata=metadata or {})


def load_weights(model: nn.Module, path: Path) -> None:
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path), device="cpu"))


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        return model.module
    return model
