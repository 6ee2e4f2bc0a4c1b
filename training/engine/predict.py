"""Applying a finished run's fold ensemble to items (``medview predict``, and the end of a run).

The ensemble is the mean of the fold models' probabilities. The models are rebuilt from the
run's config.json and its ``fold<i>.safetensors`` files, and the items preprocessed with the
run's own settings (sharing the disk cache), so predictions match what the run validated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from medview.core import csv_cells
from medview.core.containment import atomic_text
from medview.core.errors import MedviewError
from medview.core.project import Item, Project
from medview.core.run_folder import METRICS
from training.engine.batches import Context, model_to_fast_layout, predict
from training.engine.data import load_items
from training.engine.loop import resolve_device
from training.engine.run_models import RunModels, fold_model, load_run_models
from training.engine.transforms import PrepSettings
from training.stream.data import data_mode, load_stream


class PredictError(MedviewError):
    """The run cannot be applied (unfinished, weights missing, ...)."""


def ensemble_predict(
    project: Project,
    run_dir: Path,
    model_name: str,
    n_classes: int,
    channels: int,
    prep: PrepSettings,
    items: Sequence[Item],
    device: torch.device,
    batch_size: int,
    use_cache: bool,
    folds: Sequence[int],
    tta: bool = False,
) -> tuple[np.ndarray, list[Item]]:
    """Mean probabilities of the fold models for ``items`` (unreadable items are left out)."""
    # Many unlabelled items may not fit in memory: they stream like a training set would.
    streamed = data_mode("auto", len(items), prep)[0] == "stream"
    data = (load_stream if streamed else load_items)(project, items, prep, [], use_cache=use_cache)
    try:
        if not data.items:
            return np.zeros((0, n_classes)), []
        ctx = Context(data.x, data.y, n_classes, device, tta=tta, store=data.store)
        models = (fold_model(run_dir, fold, model_name, n_classes, channels) for fold in folds)
        total = sum(
            predict(
                model_to_fast_layout(m.to(device), model_name, prep.ndim, device),
                ctx, range(len(data.items)), batch_size * 2,
            )
            for m in models
        )  # fmt: skip
        return np.asarray(total) / len(folds), data.items
    finally:
        data.close()


def _ensemble(
    project: Project, models: RunModels, items: Sequence[Item], device: torch.device
) -> tuple[np.ndarray, list[Item]]:
    """The run's fold ensemble on ``items``: per item, or per volume from its slices (a
    slice-mode run, docs/slices.md)."""
    config, prep = models.config, models.prep
    batch, tta = int(config.get("batch_size") or 8), bool(config.get("tta"))
    if config.get("slices"):
        from training.slice_mode.predict import SliceSettings, ensemble_slices

        settings = SliceSettings.of(config)
        return ensemble_slices(
            project, models.run_dir, models.model_name, models.classes, prep, settings,
            items, device, models.folds, batch, tta,
        )  # fmt: skip
    return ensemble_predict(
        project, models.run_dir, models.model_name, len(models.classes), prep.channels, prep,
        items, device, batch, bool(config.get("cache", True)), models.folds, tta,
    )  # fmt: skip


def predict_run(
    project: Project, run_id: str, which: str = "unlabelled", device: str = "auto"
) -> tuple[Path, int, list[str]]:
    """Predict ``unlabelled`` or ``all`` items with a run's ensemble; store fold-0 rows in the
    project (never replacing the run's own out-of-fold rows) and write a CSV in the run folder.
    Returns (csv path, items predicted, notes)."""
    models = load_run_models(project, run_id)  # the same checks as export and apply
    run_dir, classes, kind = models.run_dir, models.classes, models.kind
    if which not in ("unlabelled", "all"):
        raise PredictError(f"--items must be 'unlabelled' or 'all', not {which!r}")
    items = project.items(labelled=False if which == "unlabelled" else None, kind=kind)
    notes: list[str] = []
    if not items:
        notes.append(f"no {which} {kind} items to predict")
    raw, kept = _ensemble(project, models, items, resolve_device(device))
    calibration = saved_calibration(run_dir, notes)
    probs = calibration.apply(raw)
    if len(kept) < len(items):
        notes.append(f"{len(items) - len(kept)} item(s) could not be read and were skipped")
    own = {p.item_id for p in project.predictions(run_id) if p.fold == 0}
    rows = []
    for item, p, r in zip(kept, probs, raw, strict=True):
        predicted = (
            classes[int(np.argmax(p))]
            if len(classes) > 2
            else classes[int(p[1] >= calibration.threshold)]
        )
        rows.append((item, p, r, predicted))
    project.add_predictions(
        run_id,
        [(it.id, 0, it.split, p.tolist(), pred) for it, p, _, pred in rows if it.id not in own],
    )
    kept_own = sum(1 for it, _, _, _ in rows if it.id in own)
    if kept_own:
        notes.append(f"{kept_own} item(s) keep the run's out-of-fold prediction in the project")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = run_dir / f"predict-{which}-{stamp}.csv"
    _write_csv(out, rows, classes, f"{calibration.threshold:.6f}" if len(classes) == 2 else "")
    return out, len(rows), notes


def saved_calibration(run_dir: Path, notes: list[str]):  # -> Calibration
    """The run's temperature and decision threshold (fitted on its out-of-fold predictions);
    none (0.5, uncalibrated) when metrics.json is missing or unreadable."""
    from training.recipe.calibration import Calibration

    metrics_path = run_dir / METRICS
    if metrics_path.is_file():
        try:
            saved = json.loads(metrics_path.read_text(encoding="utf-8"))
            return Calibration.from_json(saved.get("calibration"))
        except (OSError, ValueError, TypeError):
            notes.append(f"{metrics_path}: unreadable; probabilities left uncalibrated at 0.5")
    return Calibration()


def _write_csv(
    out: Path,
    rows: list[tuple[Item, np.ndarray, np.ndarray, str]],
    classes: list[str],
    threshold: str,
) -> None:
    """p_<class> (calibrated with the run's full calibration) and p_<class>_raw, as in the
    run's predictions.csv; ``threshold`` the one ``predicted`` used (empty: arg-max)."""
    from training.engine.report import prob_columns

    with atomic_text(out) as fh:
        writer = csv_cells.writer(fh)
        writer.writerow(
            ["item_id", "item_name", "label", *prob_columns(classes), "predicted", "threshold"]
        )
        for item, p, raw, pred in rows:
            values = [f"{v:.6f}" for v in (*p, *raw)]
            writer.writerow([item.id, item.name, item.label or "", *values, pred, threshold])
