"""``medview export``: a shareable copy of a run folder without anything that identifies a
patient or a person's files.

Left out on purpose: log.txt (it names files and items), item names, groups (often patient
ids taken from DICOM), source paths and the project path. Items are referred to by their
project item id only; ``metrics.json``'s pretrained source is reduced to a file name.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

from medview.core.errors import MedviewError
from medview.core.project import Project
from training.report import write_json

COPIED = (
    "history.csv",
    "predictions.csv",
    "roc.png",
    "roc.svg",
    "confusion.png",
    "confusion.svg",
    "loss.png",
    "loss.svg",
)


class ExportError(MedviewError):
    """The run cannot be exported (missing run folder, output not writable, ...)."""


def _sanitise_config(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    out.pop("project", None)
    if out.get("pretrained") and out["pretrained"] != "download":
        out["pretrained"] = Path(str(out["pretrained"])).name
    return out


def _sanitise_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    out = dict(metrics)
    pretrained = out.get("pretrained")
    if isinstance(pretrained, dict) and pretrained.get("source"):
        out["pretrained"] = {**pretrained, "source": Path(str(pretrained["source"])).name}
    leakage = out.get("leakage")
    if isinstance(leakage, dict) and leakage.get("split_groups"):
        # Group names are often patient ids: keep the count, drop the names.
        out["leakage"] = {**leakage, "split_groups": []}
    return out


def _copy_without_names(source: Path, target: Path) -> None:
    # The run folder's predictions.csv names each item (names can be patient identifiers);
    # the shareable copy keeps the item id only.
    with source.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    drop = rows[0].index("item_name") if rows and "item_name" in rows[0] else None
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        for row in rows:
            writer.writerow(row if drop is None else row[:drop] + row[drop + 1 :])


def export_run(
    project: Project, run_id: str, out_dir: str | Path, include_weights: bool = True
) -> list[Path]:
    """Copy the run's results to ``out_dir``; returns the files written."""
    project.get_run(run_id)  # a clear error for an unknown run
    run_dir = project.runs_dir / run_id
    if not run_dir.is_dir():
        raise ExportError(f"{run_dir}: run folder missing")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{out}: cannot create the export folder ({exc.strerror})") from exc
    written: list[Path] = []
    for name, clean in (("config.json", _sanitise_config), ("metrics.json", _sanitise_metrics)):
        source = run_dir / name
        if source.is_file():
            write_json(out / name, clean(json.loads(source.read_text(encoding="utf-8"))))
            written.append(out / name)
    names = list(COPIED)
    if include_weights:
        names += sorted(p.name for p in run_dir.glob("fold*.safetensors"))
    for name in names:
        if (run_dir / name).is_file():
            if name == "predictions.csv":
                _copy_without_names(run_dir / name, out / name)
            else:
                shutil.copy2(run_dir / name, out / name)
            written.append(out / name)
    readme = out / "README.txt"
    readme.write_text(
        f"medview run {run_id}\n\n"
        "config.json       the run's settings\n"
        "metrics.json      per-fold metrics, mean +- std, test (fold ensemble), leakage audit\n"
        "history.csv       per epoch: losses, validation AUC/accuracy, learning rate, seconds\n"
        "predictions.csv   per item id: fold, split, true class, probabilities, prediction\n"
        "                  (fold 0 = out-of-fold for validated items, ensemble for test items)\n"
        "*.png / *.svg     ROC, confusion matrices, loss curves\n"
        "fold*.safetensors model weights per fold\n\n"
        "Items are identified by their medview item id only; no names, paths, groups or DICOM\n"
        "fields are included.\n",
        encoding="utf-8",
    )
    written.append(readme)
    return written
