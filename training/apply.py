"""``medview apply --run ID FOLDER... --out predictions.csv``: a run's fold ensemble on images
that are not part of the project (a new batch from the microscope, a colleague's folder).

The folders are scanned with the importer's own scanner (medview.io.readers.scan), so whatever
``medview import`` reads is read here, and nothing is added to the project. Each image is
preprocessed with the run's settings and scored by the mean of the fold models, in batches.

CSV columns: ``path`` (the file; for a multi-file DICOM series its folder), ``files`` (files
read), ``name``, ``kind``, ``predicted``, ``prob_<class>`` per class, ``note`` (e.g. that a 2D
model saw a volume's middle slice). Unreadable files are listed with their reason and the rest
is written. No DICOM header field other than what the importer already puts in a name is written.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from medview.core.errors import MedviewError, ReadError
from medview.core.image import Image
from medview.core.project import Project
from medview.io.readers import Candidate, Skipped
from training.metrics import predicted_classes
from training.run_models import RunModels, ensemble_module, load_run_models
from training.transforms import preprocess

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
    probabilities: list[float]
    predicted: str
    note: str = ""


@dataclass
class ApplyReport:
    out: Path
    classes: list[str]
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

    models = load_run_models(project, run_id)
    module = ensemble_module(models)
    found = scan(list(sources), progress=progress, cancel=cancel)
    report = ApplyReport(Path(out), models.classes, skipped=list(found.skipped))
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
            _score_batch(pending, module, models.classes, report.rows)
    _score_batch(pending, module, models.classes, report.rows)


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


def _score_batch(
    pending: list[_Pending],
    module: torch.nn.Module,
    classes: Sequence[str],
    rows: list[ApplyRow],
) -> None:
    """Run the ensemble on the pending inputs, append their rows, and empty ``pending``."""
    if not pending:
        return
    batch = torch.from_numpy(np.stack([x for _, x, _ in pending]))
    with torch.no_grad():
        probs = module(batch).double().numpy()
    for (cand, _, note), p in zip(pending, probs, strict=True):
        rows.append(
            ApplyRow(
                _where(cand),
                len(cand.paths) if cand.reader != "npz" else 1,
                cand.name,
                cand.kind,
                p.tolist(),
                _predicted(p, classes),
                note,
            )
        )
    pending.clear()


def _predicted(p: np.ndarray, classes: Sequence[str]) -> str:
    return classes[int(predicted_classes(p[np.newaxis])[0])]  # the engine's own rule


def write_apply_csv(report: ApplyReport) -> None:
    out = report.out
    try:
        if out.parent != Path(""):
            out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                [
                    "path",
                    "files",
                    "name",
                    "kind",
                    "predicted",
                    *[f"prob_{c}" for c in report.classes],
                    "note",
                ]
            )
            for r in report.rows:
                writer.writerow(
                    [
                        r.path,
                        r.files,
                        r.name,
                        r.kind,
                        r.predicted,
                        *[f"{v:.6f}" for v in r.probabilities],
                        r.note,
                    ]
                )
        os.replace(tmp, out)
    except OSError as exc:
        raise ApplyError(f"{out}: cannot write the predictions ({exc.strerror})") from exc
