"""Running a run again with the same settings: ``medview train PROJECT --config FILE``.

FILE is a run's ``config.json`` (``PROJECT/runs/<id>/config.json``), e.g. of a run that was
interrupted by a crash. What the file cannot decide, on purpose:

* the project: always the one on the command line. A config.json may come from someone
  else's project and must not point the run at another folder;
* the run id: a new run gets a new folder (the old one may still be there, or be deleted);
* the resolved details the engine wrote for information (``resolved``: classes, device...).

Flags given on the command line override the file's values (``--epochs 1`` for a quick
repeat, ``--device cpu`` on another machine).

A file asking for ``"pretrained": "download"`` would make a network call the user never asked
for (the file may be someone else's): it is refused unless the user allows it
(``--allow-download``, or typing ``--pretrained download``; the window asks).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from medview.core.errors import ReadError
from medview.core.run_folder import CONFIG
from medview.core.user_files import read_json_object
from training.recipe.config import DOWNLOAD, ConfigError, TrainConfig, upgrade_legacy

# Keys the engine adds to config.json that are not settings.
_INFORMATIONAL = ("resolved", "project", "run_id")


def read_run_config(path: str | Path, *, ignore_unknown: bool = False) -> dict[str, Any]:
    """The settings stored in a run's config.json (a folder means its config.json).

    Unknown keys are an error, unless ``ignore_unknown`` (the window's "Run again": a file
    written by another version still gives what it can)."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG
    if not path.exists():
        raise ConfigError(f"{path}: no such run configuration")
    try:  # a regular file under 16 MiB, no NaN, not nested 100k deep: one line if not
        data = read_json_object(path, what="run configuration")
    except ReadError as exc:
        raise ConfigError(str(exc)) from exc
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    data = upgrade_legacy(data)  # freeze_encoder / balanced_sampler of older runs
    settings = {k: v for k, v in data.items() if k in known and k not in _INFORMATIONAL}
    unknown = sorted(set(data) - known - set(_INFORMATIONAL))
    if unknown and not ignore_unknown:
        raise ConfigError(f"{path}: unknown training option(s): {', '.join(unknown)}")
    return settings


def asks_for_download(settings: dict[str, Any]) -> bool:
    """The settings would download pretrained weights from the internet."""

    return str(settings.get("pretrained") or "") == DOWNLOAD


def config_with_overrides(
    path: str | Path,
    project: str,
    overrides: dict[str, Any],
    *,
    allow_download: bool = False,
) -> TrainConfig:
    """TrainConfig from a run's config.json, for ``project``, with explicit flag values.
    A download the file asks for (not the flags) needs ``allow_download``."""
    settings = read_run_config(path)
    if asks_for_download(settings) and not allow_download and "pretrained" not in overrides:
        raise ConfigError(
            f"{path} asks to download pretrained weights from the internet; add "
            "--allow-download to allow it, or give --pretrained FILE for a local weight file"
        )
    settings.update(overrides)
    return check_settings(settings, project, path)


def check_settings(settings: dict[str, Any], project: str | Path, path: str | Path) -> TrainConfig:
    """The validated TrainConfig of ``settings`` for ``project`` (ConfigError if invalid)."""
    try:
        cfg = TrainConfig.from_dict({**settings, "project": str(project)})
        cfg.validate()
    except ConfigError as exc:  # the flags' own checks, naming the file that held the value
        raise ConfigError(f"{path}: {exc}") from exc
    except (TypeError, ValueError) as exc:  # wrong types: "epochs": "ten", "size": [1]
        raise ConfigError(f"{path}: invalid run configuration ({exc})") from exc
    return cfg
