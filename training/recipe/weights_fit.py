"""Does a pretrained-weight file fit the chosen model? The plan check's cheap, torch-free
answer, from the file's tensor names alone.

The engine (training/engine/weights.py) decides for good when it loads the file; the plan
check only has to stop saying "ready" for a file made for another architecture (the issue's
"only 0% of the encoder's tensors are in the file", found once training had started). So:

- the names come from the file's index, never its data: a ``.safetensors`` header (JSON), or
  the pickle of a torch file read with stand-ins for the tensors: nothing is imported or run,
  any other global refuses the read (then the plan says nothing; the engine will);
- a name belongs to the model when it lies under one of the spec's blocks
  (training/recipe/model_specs.py: every parameter is in a block or the head), so a file
  fits when it reaches at least half the blocks and nearly all its tensors have a place
  there: the engine's own thresholds, counted on names.

Shapes are not compared (they need the built model): a file of the same family at another
depth can still pass here and be refused by the engine.
"""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path
from typing import IO, Any

from training.recipe.config import DOWNLOAD
from training.recipe.model_specs import SPECS

MIN_BLOCK_FRACTION = 0.5  # as weights.MIN_ENCODER_FRACTION, counted per block
MAX_FOREIGN_FRACTION = 0.05  # as weights.MAX_FOREIGN_FRACTION
WRAPPERS = ("state_dict", "model_state_dict", "model", "net")  # as weights.read_state_dict


class _Tensor:
    """A tensor's place in a torch pickle: its data is never read."""


class _Storage:
    pass


class _Dict(dict[str, Any]):
    """An OrderedDict stand-in that takes the ``_metadata`` torch attaches to state dicts."""


def _tensor(*_args: Any, **_kwargs: Any) -> _Tensor:
    return _Tensor()


class _IndexReader(pickle.Unpickler):
    """Reads a torch state dict's pickle with stand-ins: only the names torch.save writes for
    tensors and dicts are accepted (like weights_only=True), nothing is imported."""

    ALLOWED = {
        ("torch._utils", "_rebuild_tensor_v2"): _tensor,
        ("torch._utils", "_rebuild_tensor"): _tensor,
        ("torch._utils", "_rebuild_parameter"): _tensor,
        ("collections", "OrderedDict"): _Dict,
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if module == "torch" and name.endswith("Storage"):
            return _Storage
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a state dict")

    def persistent_load(self, pid: Any) -> _Storage:
        return _Storage()


def tensor_names(path: str | Path) -> list[str] | None:
    """The tensor names of a weight file, unwrapped and without ``module.``; None when the
    file cannot be read this cheaply (the engine's load says why)."""
    try:
        raw = _read_index(Path(path))
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile):
        return None
    for key in WRAPPERS:
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
            break
    if not isinstance(raw, dict):
        return None
    names = []
    for key, value in raw.items():
        if isinstance(value, _Tensor):
            name = str(key)
            while name.startswith("module."):
                name = name[len("module.") :]
            names.append(name)
    return names


def _read_index(path: Path) -> Any:
    if path.suffix == ".safetensors":
        with path.open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        return {k: _Tensor() for k in header if k != "__metadata__"}
    if zipfile.is_zipfile(path):  # torch.save's format since 1.6: only data.pkl is read
        with zipfile.ZipFile(path) as archive:
            pkl = next((n for n in archive.namelist() if n.endswith("/data.pkl")), None)
            if pkl is None:
                return None
            with archive.open(pkl) as fh:
                return _IndexReader(fh).load()
    with path.open("rb") as fh:  # the legacy format (MedicalNet): magic, protocol, info, data
        return _legacy(fh)


def _legacy(fh: IO[bytes]) -> Any:
    for _ in range(3):
        _IndexReader(fh).load()
    return _IndexReader(fh).load()


def weights_problem(model: str | None, pretrained: str | None) -> str | None:
    """Why ``pretrained`` does not fit ``model`` (one line naming the file), or None when it
    seems to fit or cannot be told cheaply."""
    found = SPECS.get(model or "")
    if found is None or not pretrained or pretrained == DOWNLOAD:
        return None
    names = tensor_names(pretrained)
    if not names:
        return None
    heads = (found.head, *found.file_extras)
    names = [n for n in names if not any(n == h or n.startswith(h + ".") for h in heads)]
    paths = [p for block in found.blocks for p in block]

    def under(name: str, prefixes: list[str]) -> bool:
        return any(name.startswith(p + ".") for p in prefixes)

    reached = sum(1 for block in found.blocks if any(under(n, list(block)) for n in names))
    foreign = [n for n in names if not under(n, paths)]
    fraction = reached / max(1, len(found.blocks))
    if fraction < MIN_BLOCK_FRACTION:
        detail = f"it reaches only {reached} of the model's {len(found.blocks)} blocks"
    elif len(foreign) > MAX_FOREIGN_FRACTION * max(1, len(names)):
        detail = f"{len(foreign)} of its tensors have no place in it (e.g. {foreign[0]})"
    else:
        return None
    name = Path(pretrained).name
    return f"{name} does not fit {model}: {detail}. Made for another architecture?"
