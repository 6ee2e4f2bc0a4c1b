"""A run's folder, ``PROJECT/runs/<run-id>/`` (docs/DESIGN.md section 4): the one place that
knows its file names, and the readers and writers of the files that need no engine.

Torch-free and Qt-free, so the window, the CLI and the engine all read a run the same way::

    folder = RunFolder.of(project, run_id)
    metrics = folder.read_metrics()        # None while a run has not written one yet
    folder.weights(2)                      # .../fold2.safetensors

The engine writes through it too (``training.report``); ``predictions.csv`` rows are the
engine's ``PredRow`` and are read and written there, at ``folder.predictions``.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medview.core.project import Project

CONFIG = "config.json"
METRICS = "metrics.json"
HISTORY = "history.csv"
PREDICTIONS = "predictions.csv"
LOG = "log.txt"
# Slice mode (training/slices.py): one row per slice, one per patient; predictions.csv keeps
# one row per volume. ``levels`` plots slice, volume and patient metrics side by side.
SLICES = "slices.csv"
PATIENTS = "patients.csv"
LEVELS_PLOT = "levels"
PLOTS = ("roc", "confusion", "loss")  # each as .png and .svg
# The test split's own plots (the fold models' ensemble), written when a run has test items.
TEST_PLOTS = ("roc_test", "confusion_test")
PLOT_SUFFIXES = (".png", ".svg")
HISTORY_COLUMNS = (
    "fold",
    "epoch",
    "train_loss",
    "val_loss",
    "val_auc",
    "val_accuracy",
    "lr",
    "seconds",
)
# Written only when a row has them (a CUDA run): utilisation in %, peak allocated MiB.
GPU_COLUMNS = ("gpu_utilization", "gpu_peak_memory_mb")
_WEIGHTS = re.compile(r"fold(\d+)\.safetensors")


class RunFolder:
    """The files of one run. Paths are properties; nothing is created until written."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def of(cls, project: Project, run_id: str) -> RunFolder:
        return cls(project.runs_dir / run_id)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def run_id(self) -> str:
        return self.path.name

    # ------------------------------------------------------------------ names
    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def history(self) -> Path:
        return self.path / HISTORY

    @property
    def predictions(self) -> Path:
        return self.path / PREDICTIONS

    @property
    def log(self) -> Path:
        return self.path / LOG

    @property
    def slices(self) -> Path:
        return self.path / SLICES

    @property
    def patients(self) -> Path:
        return self.path / PATIENTS

    def weights(self, fold: int) -> Path:
        return self.path / f"fold{fold}.safetensors"

    def plot(self, name: str) -> Path:
        """The stem of a plot (PLOTS, TEST_PLOTS, LEVELS_PLOT); PNG and SVG go beside it."""
        return self.path / name

    def report_files(self) -> list[str]:
        """The names of the tables and plots a report consists of (what an export copies)."""
        plots = [f"{name}{suffix}" for name in PLOTS for suffix in PLOT_SUFFIXES]
        tested = [n for n in TEST_PLOTS if (self.path / f"{n}.png").exists()]
        plots += [f"{name}{suffix}" for name in tested for suffix in PLOT_SUFFIXES]
        sliced = (
            [f"{LEVELS_PLOT}{suffix}" for suffix in PLOT_SUFFIXES] if self.slices.exists() else []
        )
        return [HISTORY, PREDICTIONS, *plots, *([SLICES] if sliced else []), *sliced]

    def weight_folds(self) -> list[int]:
        """The folds whose weights are on disk, in order."""
        if not self.path.is_dir():
            return []
        found = (_WEIGHTS.fullmatch(p.name) for p in self.path.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    # ------------------------------------------------------------------ JSON
    def read_config(self) -> dict[str, Any] | None:
        """config.json, or None when missing or unreadable."""
        return _read_json(self.config)

    def read_metrics(self) -> dict[str, Any] | None:
        """metrics.json, or None when missing or unreadable (a run killed before it wrote
        one, or one still running)."""
        return _read_json(self.metrics)

    def write_config(self, data: dict[str, Any]) -> None:
        write_json(self.config, data)

    def write_metrics(self, data: dict[str, Any]) -> None:
        write_json(self.metrics, data)

    # ------------------------------------------------------------------ history.csv
    def write_history(self, rows: Sequence[dict[str, Any]]) -> None:
        write_history_csv(self.history, rows)

    def read_history(self) -> list[dict[str, Any]]:
        """history.csv rows (see :func:`read_history_csv`); [] when the file is missing."""
        return read_history_csv(self.history) if self.history.is_file() else []

    # ------------------------------------------------------------------ log.txt
    def write_log(self, lines: Sequence[str]) -> None:
        self.log.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_history_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """One row per fold and epoch, the columns of ``HISTORY_COLUMNS`` and the GPU columns
    some row has (None as empty)."""
    gpu = [c for c in GPU_COLUMNS if any(row.get(c) is not None for row in rows)]
    columns = (*HISTORY_COLUMNS, *gpu)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})


def read_history_csv(path: Path) -> list[dict[str, Any]]:
    """Rows with fold and epoch as int, the other columns float (None when empty; a
    non-numeric column, e.g. from a newer engine, stays text)."""
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for k, v in raw.items():
                row[k] = int(v) if k in ("fold", "epoch") else _number(v)
            rows.append(row)
    return rows


def _number(text: str) -> float | str | None:
    """A history cell: empty is None; a column that is not numeric stays text."""
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def write_json(path: Path, data: Any) -> None:
    """Atomically: readers (the window, ``medview runs``) never see half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def json_default(value: Any) -> Any:
    """numpy values as lists/numbers; anything else is an error (no silent str())."""
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
