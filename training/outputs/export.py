"""``medview export``: a shareable copy of a run folder without anything that identifies a
patient or a person's files.

Left out on purpose: log.txt (it names files and items), item names, groups (often patient
ids taken from DICOM), source paths and the project path. Items are referred to by their
project item id only; ``metrics.json``'s pretrained source is reduced to a file name.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from medview.core.containment import (
    UnsafePathError,
    copy_regular_file,
    is_real_dir,
    is_regular_file,
    read_regular_file,
    write_new_file,
)
from medview.core.errors import MedviewError
from medview.core.output_paths import OutputPathError, make_export_folder
from medview.core.project import Project
from medview.core.run_folder import (
    CONFIG,
    HISTORY,
    METRICS,
    PREDICTIONS,
    SLICES,
    RunFolder,
    json_default,
)

COPIED = (
    HISTORY,
    "folds.csv",
    PREDICTIONS,
    "roc.png",
    "roc.svg",
    "confusion.png",
    "confusion.svg",
    "loss.png",
    "loss.svg",
    "roc_test.png",  # the test split's own plots (runs with test items)
    "roc_test.svg",
    "confusion_test.png",
    "confusion_test.svg",
    # Slice mode (docs/slices.md); patients.csv is left out: group names are patient ids.
    SLICES,
    "levels.png",
    "levels.svg",
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


def _without_names(data: bytes) -> bytes:
    # The run folder's predictions.csv names each item (names can be patient identifiers);
    # the shareable copy keeps the item id only.
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    drop = rows[0].index("item_name") if rows and "item_name" in rows[0] else None
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    for row in rows:
        writer.writerow(row if drop is None else row[:drop] + row[drop + 1 :])
    return text.getvalue().encode("utf-8")


def _read_run_file(path: Path) -> bytes | None:
    """A file medview wrote in the run folder: a plain file, never through a link (a link in
    someone else's run folder could point at /etc/shadow). None when it is not one."""
    if not is_regular_file(path):
        return None
    try:
        return read_regular_file(path, max_bytes=64 << 20)
    except OSError:
        return None


def export_run(
    project: Project, run_id: str, out_dir: str | Path, include_weights: bool = True
) -> list[Path]:
    """Copy the run's results to ``out_dir``; returns the files written.

    Only the files a run writes (fixed names), only plain files (a link is left out, so is a
    run folder behind a link), and only into plain files of ``out_dir`` (a link planted
    there is refused, never written through)."""
    run_dir = _run_folder(project, run_id)
    out = _export_folder(project, out_dir)
    names = _copied_names(run_dir, include_weights)
    _refuse_linked_targets(out, [CONFIG, METRICS, "README.txt", *names], run_id)
    try:
        written = _write_json_files(run_dir, out)
        written += _write_copies(run_dir, out, names)
        write_new_file(out / "README.txt", _README.format(run_id=run_id).encode("utf-8"))
    except UnsafePathError as exc:
        raise ExportError(f"export of run {run_id} stopped: {exc}") from exc
    except OSError as exc:
        raise ExportError(f"{out}: cannot write the export ({exc.strerror or exc})") from exc
    written.append(out / "README.txt")
    return written


def _run_folder(project: Project, run_id: str) -> Path:
    """The run's folder, a real directory inside the project (ExportError otherwise)."""
    project.get_run(run_id)  # a clear error for an unknown run
    try:
        run_dir = project.run_dir(run_id)
    except UnsafePathError as exc:
        raise ExportError(f"run {run_id} not exported: {exc}") from exc
    if not is_real_dir(project.folder, run_dir):
        raise ExportError(f"{run_dir}: run folder missing")
    return run_dir


def _export_folder(project: Project, out_dir: str | Path) -> Path:
    try:
        return make_export_folder(project.folder, out_dir)
    except OutputPathError as exc:
        raise ExportError(str(exc)) from exc


def _copied_names(run_dir: Path, include_weights: bool) -> list[str]:
    """The run files copied besides the JSON ones: the fixed names, and the folds' weights."""
    names = list(COPIED)
    if include_weights:
        folder = RunFolder(run_dir)
        names += [folder.weights(fold).name for fold in folder.weight_folds()]
    return names


def _refuse_linked_targets(out: Path, names: list[str], run_id: str) -> None:
    # Check every target first: a link planted in the output folder stops the export before
    # anything is written, rather than half-way.
    for name in names:
        if (out / name).is_symlink():
            raise ExportError(
                f"export of run {run_id} refused: {out / name} is a symbolic link "
                "(medview does not write through links; remove it or pick another folder)"
            )


def _write_json_files(run_dir: Path, out: Path) -> list[Path]:
    """config.json and metrics.json, sanitised; one that is not medview's JSON is left out."""
    written: list[Path] = []
    for name, clean in (
        (CONFIG, _sanitise_config),
        (METRICS, _sanitise_metrics),
    ):
        data = _read_run_file(run_dir / name)
        if data is None:
            continue
        try:
            parsed = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue  # not the JSON medview wrote: left out rather than copied as it is
        if isinstance(parsed, dict):
            text = json.dumps(clean(parsed), indent=2, default=json_default) + "\n"
            write_new_file(out / name, text.encode("utf-8"))
            written.append(out / name)
    return written


def _write_copies(run_dir: Path, out: Path, names: list[str]) -> list[Path]:
    """The other run files: the CSVs that name items without their names, the rest as is."""
    written: list[Path] = []
    for name in names:
        if name in (PREDICTIONS, SLICES):
            data = _read_run_file(run_dir / name)
            if data is None:
                continue
            try:
                write_new_file(out / name, _without_names(data))
            except (UnicodeDecodeError, csv.Error):
                continue  # not the CSV medview wrote: left out rather than copied
            written.append(out / name)
        elif copy_regular_file(run_dir / name, out / name):
            written.append(out / name)
    return written


_README = (
    "medview run {run_id}\n\n"
    "config.json       the run's settings\n"
    "metrics.json      per-fold metrics, mean +- std, test (fold ensemble), leakage audit\n"
    "history.csv       per epoch: losses, validation AUC/accuracy, learning rate, seconds\n"
    "predictions.csv   per item id: fold, split, true class, probabilities, prediction\n"
    "                  (fold 0 = out-of-fold for validated items, ensemble for test items)\n"
    "*.png / *.svg     ROC, confusion matrices, loss curves\n"
    "fold*.safetensors model weights per fold\n\n"
    "Items are identified by their medview item id only; no names, paths, groups or DICOM\n"
    "fields are included.\n"
)
