"""``medview apply --run ID FOLDER... --out predictions.csv``: a run's fold ensemble on images
that are not part of the project (a new batch from the microscope, a colleague's folder).

The folders are scanned with the importer's own scanner (medview.io.readers.scan), so whatever
``medview import`` reads is read here, and nothing is added to the project. Each image is
preprocessed with the run's settings and scored by the mean of the fold models, in batches.

CSV columns: ``path`` (the file; for a multi-file DICOM series its folder), ``files`` (files
read), ``name``, ``kind``, ``predicted``, ``p_<class>`` per class (calibrated with the run's
calibration, fitted on all its out-of-fold predictions, as for its test split), ``p_<class>_raw``
per class (the ensemble's own output), ``threshold`` (binary: ``predicted`` is
``p_<positive> >= threshold``), ``note`` (e.g. that a 2D model saw a volume's middle slice).
Unreadable files are listed with their reason and the rest is written. No DICOM header field
other than what the importer already puts in a name is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medview.core import csv_cells
from medview.core.containment import UnsafePathError, atomic_text
from medview.core.errors import MedviewError, ReadError
from medview.core.image import Image
from medview.core.output_paths import OutputPathError, check_output_file, refuse_if_read
from medview.core.project import Project
from medview.io.readers import Candidate, Skipped
from training.engine.metrics import predicted_classes
from training.engine.report import prob_columns
from training.engine.run_models import RunModels, ensemble_module, load_run_models
from training.engine.transforms import preprocess

Progress = Callable[[int, int, str], None]
BATCH = 16
# a candidate waiting for its batch: the candidate, its model input, its CSV note
_Pending = tuple[Candidate, np.ndarray, str]


class ApplyError(MedviewError):
    """Nothing could be applied (no images found, output not writable, ...)."""


@dataclass
class ApplyRow:
    path: str
    files: int
    name: str
    kind: str
    probabilities: list[float]  # calibrated with the run's calibration
    predicted: str
    note: str = ""
    raw: list[float] = field(default_factory=list)  # the fold ensemble's own output


@dataclass
class ApplyReport:
    out: Path
    classes: list[str]
    calibration: Any = None  # training.recipe.calibration.Calibration: the run's (T, threshold)
    rows: list[ApplyRow] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    cancelled: bool = False


def read_candidate(candidate: Candidate) -> Image:
    """The pixels of a scanned candidate, without a project (ReadError naming the file)."""
    from medview.io import dicom, nifti, npz
    from medview.io.readers import read_scanned

    where = candidate.paths[0] if candidate.paths else candidate.name
    try:
        if candidate.reader == "npz":
            meta = candidate.meta
            data = npz.load_array(meta["archive"], meta["key"])
            return Image(npz.row_image(np.ascontiguousarray(data[int(meta["row"])])))
        if candidate.reader == "dicom":
            return dicom.read_series(candidate.paths, name=Path(candidate.paths[0]).parent)
        if candidate.reader == "nifti":
            return nifti.read_nifti(candidate.paths[0])
        return read_scanned(candidate)  # a microscope scene: that scene, not the first
    except ReadError:
        raise
    except MemoryError as exc:
        raise ReadError(where, "not enough memory to load this image") from exc
    except Exception as exc:
        raise ReadError(where, f"cannot read ({type(exc).__name__}: {exc})") from exc


def _where(candidate: Candidate) -> str:
    if candidate.reader == "npz":
        meta = candidate.meta
        return f"{meta.get('archive')}[{meta.get('key')}][{meta.get('row')}]"
    if candidate.reader == "dicom" and len(candidate.paths) > 1:
        return str(Path(candidate.paths[0]).parent)
    return candidate.paths[0]


def apply_run(
    project: Project,
    run_id: str,
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> ApplyReport:
    """Score every image under ``sources`` with the run's ensemble and write ``out`` (CSV)."""
    from medview.io.readers import scan

    _check_out(lambda: check_output_file(project.folder, out))
    models = load_run_models(project, run_id)
    module = ensemble_module(models)
    found = scan(list(sources), progress=progress, cancel=cancel)
    _check_out(lambda: refuse_if_read(out, (p for c in found.found for p in c.paths)))
    from training.engine.predict import saved_calibration

    calibration = saved_calibration(models.run_dir, [])
    report = ApplyReport(Path(out), models.classes, calibration, skipped=list(found.skipped))
    if found.cancelled:
        report.cancelled = True
    todo = found.found
    if not todo and not report.skipped:
        raise ApplyError(f"no images found in {', '.join(map(str, sources))}")
    _score_candidates(todo, models, module, report, progress, cancel)
    if progress is not None:
        progress(len(todo), len(todo), "done")
    write_apply_csv(report)
    return report


def _check_out(check: Callable[[], object]) -> None:
    """``apply --out`` may not land in the project (``--out P/project.db`` replaced the
    database) nor on an image being scored: checked before anything is computed."""
    try:
        check()
    except OutputPathError as exc:
        raise ApplyError(str(exc)) from exc


def _score_candidates(
    todo: Sequence[Candidate],
    models: RunModels,
    module: torch.nn.Module,
    report: ApplyReport,
    progress: Progress | None,
    cancel: Callable[[], bool] | None,
) -> None:
    """Preprocess each candidate and score them in batches of ``BATCH`` into ``report.rows``."""
    pending: list[_Pending] = []
    for index, candidate in enumerate(todo):
        if cancel is not None and cancel():
            report.cancelled = True
            break
        if progress is not None:
            progress(index, len(todo), f"predicting {candidate.name}")
        prepared = _prepare(candidate, models, report.skipped)
        if prepared is None:
            continue
        pending.append(prepared)
        if len(pending) >= BATCH:
            _score_batch(pending, module, report)
    _score_batch(pending, module, report)


def _prepare(candidate: Candidate, models: RunModels, skipped: list[Skipped]) -> _Pending | None:
    """The candidate's model input and note; None (and the reason in ``skipped``) if unusable."""
    where = _where(candidate)
    if models.kind == "3d" and candidate.kind == "2d":
        skipped.append(Skipped(where, "a 2D image; this run's model takes 3D volumes"))
        return None
    note = ""
    if models.kind == "2d" and candidate.kind == "3d":
        note = "volume: the 2D model saw its middle slice"
    try:
        x = preprocess(read_candidate(candidate), models.prep)
    except ReadError as exc:
        skipped.append(Skipped(where, exc.reason))
        return None
    except Exception as exc:  # one odd file never stops the others
        skipped.append(Skipped(where, f"cannot read ({type(exc).__name__}: {exc})"))
        return None
    return candidate, x, note


def _score_batch(pending: list[_Pending], module: torch.nn.Module, report: ApplyReport) -> None:
    """Run the ensemble on the pending inputs, append their rows, and empty ``pending``."""
    if not pending:
        return
    batch = torch.from_numpy(np.stack([x for _, x, _ in pending]))
    with torch.no_grad():
        raw = module(batch).double().numpy()
    cal = report.calibration
    probs = cal.apply(raw) if cal is not None else raw
    threshold = cal.threshold if cal is not None else 0.5
    for (cand, _, note), p, r in zip(pending, probs, raw, strict=True):
        report.rows.append(
            ApplyRow(
                _where(cand),
                len(cand.paths) if cand.reader != "npz" else 1,
                cand.name,
                cand.kind,
                p.tolist(),
                _predicted(p, report.classes, threshold),
                note,
                r.tolist(),
            )
        )
    pending.clear()


def _predicted(p: np.ndarray, classes: Sequence[str], threshold: float) -> str:
    return classes[int(predicted_classes(p[np.newaxis], threshold)[0])]  # the engine's rule


def write_apply_csv(report: ApplyReport) -> None:
    out = report.out
    try:
        if out.parent != Path(""):
            out.parent.mkdir(parents=True, exist_ok=True)
        # A temp file of its own beside ``out``, renamed over it: never written through a
        # link planted at ``out`` or at a predictable ``out.tmp`` name. A file name that is not
        # UTF-8 (fsdecode's surrogates) is written as its own bytes, as the file system has it,
        # rather than failing the CSV after every prediction.
        with atomic_text(out, errors="surrogateescape") as fh:
            writer = csv_cells.writer(fh)
            header = ["path", "files", "name", "kind", "predicted"]
            writer.writerow([*header, *prob_columns(report.classes), "threshold", "note"])
            writer.writerows(_apply_rows(report))
    except UnsafePathError as exc:
        raise ApplyError(f"{out}: not written: {exc}") from exc
    except OSError as exc:
        raise ApplyError(f"{out}: cannot write the predictions ({exc.strerror})") from exc


def _apply_rows(report: ApplyReport) -> list[list[Any]]:
    """One CSV row per scored image: calibrated then raw probabilities, and the threshold
    ``predicted`` used (binary runs)."""
    threshold = report.calibration.threshold if report.calibration is not None else 0.5
    binary = len(report.classes) == 2
    return [
        [
            r.path,
            r.files,
            r.name,
            r.kind,
            r.predicted,
            *[f"{v:.6f}" for v in (*r.probabilities, *(r.raw or r.probabilities))],
            f"{threshold:.6f}" if binary else "",
            r.note,
        ]
        for r in report.rows
    ]
