"""A model study: several ordinary runs that share the folds, seed, preprocessing and budget and
differ only in the model (``medview study PROJECT --models a,b,c``, and the window's "Compare
models…" dialog).

What makes the comparison fair: every run gets the same TrainConfig but for ``model`` (same
seed, so ``plan_splits`` gives the same folds, asserted by the tests from each run's
``split_plan``), and one input size for all (the largest default among the models unless
``--size`` is given), so preprocessing is shared too. Each run is named
``<study-id>-<model>`` and linked to the study in the project database.

Cancel keeps the finished runs; ``--resume STUDY`` trains only the models without a finished
run (a partial run of the model that was interrupted is deleted and trained again, so every
model of a study has exactly one run). The study's files (study.json, study.csv, plots) are
rewritten after each run in ``runs/<study-id>/`` (training/study_report.py).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medview.core import messages as msg
from medview.core.errors import MedviewError
from medview.core.project import Project
from training.config import MODELS, ConfigError, TrainConfig, model_kind, shared_settings

Emit = Callable[[msg.Message], None]
# Settings that name or place a run rather than shape it: not part of what a study shares.
PER_RUN_KEYS = ("project", "model", "run_id", "extra")


@dataclass
class StudyOutcome:
    study_id: str
    status: str  # finished | cancelled | failed
    folder: Path
    runs: dict[str, str] = field(default_factory=dict)  # model -> run id
    failed: dict[str, str] = field(default_factory=dict)  # model -> reason
    report: dict[str, Any] = field(default_factory=dict)


def new_study_id(project: Project, prefix: str = "study") -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{prefix}-{stamp}"
    taken = {s.id for s in project.studies()}
    study_id, n = base, 1
    while study_id in taken or (project.runs_dir / study_id).exists():
        n += 1
        study_id = f"{base}-{n}"
    return study_id


def parse_models(text: str | Sequence[str]) -> list[str]:
    names = [m.strip() for m in (text.split(",") if isinstance(text, str) else text)]
    names = [m for m in names if m]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise ConfigError(
            f"unknown model(s) {', '.join(unknown)} (choose from {', '.join(MODELS)})"
        )
    if len(names) < 2:
        raise ConfigError("a study compares at least two models (--models a,b)")
    if len(set(names)) != len(names):
        raise ConfigError("each model may appear once in --models")
    kinds = {model_kind(m) for m in names}
    if len(kinds) > 1:
        raise ConfigError("a study compares models of one kind: all 2D or all 3D")
    return names


def shared_size(cfg: TrainConfig, models: Sequence[str]) -> int:
    """One input size for every model of the study: the given --size, else the largest of the
    models' defaults (a small CNN then sees the same pixels as an ImageNet model)."""
    if cfg.size is not None:
        return cfg.size
    return max(cfg.resolved_size(m) for m in models)


def base_config(cfg: TrainConfig, size: int) -> dict[str, Any]:
    data = shared_settings(cfg).to_dict()
    for key in PER_RUN_KEYS:
        data.pop(key, None)
    data["size"] = size
    return data


def run_config(project: str, base: dict[str, Any], model: str, run_id: str, study_id: str):
    values = {**base, "project": project, "model": model, "run_id": run_id}
    values["extra"] = {"study_id": study_id}
    return TrainConfig.from_dict(values)


def owner() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


class StudyEmitter:
    """Passes a run's messages on, but turns each run's terminal message into a log line: only
    the study's own finished/cancelled/failed may end the job the window is watching."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.model = ""

    def __call__(self, message: msg.Message) -> None:
        if isinstance(message, msg.Finished):
            auc = message.summary.get("roc_auc")
            detail = f", CV AUC {auc:.3f}" if isinstance(auc, float) else ""
            self.emit(msg.Log(f"{self.model}: run {message.run_id} finished{detail}"))
        elif isinstance(message, msg.Failed):
            self.emit(msg.Log(f"{self.model}: run failed: {message.error}", "error"))
        elif isinstance(message, msg.Cancelled):
            self.emit(msg.Log(f"{self.model}: run {message.run_id} cancelled", "warning"))
        else:
            self.emit(message)


@dataclass
class _StudyRun:
    """A study being trained: its id, spec (models, shared settings, run ids), the runs it
    already has, and where it reports."""

    cfg: TrainConfig
    study_id: str
    spec: dict[str, Any]
    models: list[str]
    base: dict[str, Any]
    folder: Path
    existing: dict[str, Any]
    emit: Emit
    should_cancel: Callable[[], bool]
    outcome: StudyOutcome = field(init=False)

    def __post_init__(self) -> None:
        runs = dict(self.spec["runs"])
        self.outcome = StudyOutcome(self.study_id, "running", self.folder, runs=runs)


def run_study(
    cfg: TrainConfig,
    models: Sequence[str] | None = None,
    emit: Emit = lambda m: None,
    should_cancel: Callable[[], bool] = lambda: False,
    *,
    study_id: str | None = None,
    resume: str | None = None,
) -> StudyOutcome:
    """Train every model of a new study (``models``) or of the study ``resume``.

    ``cfg`` holds the shared settings (its ``model`` and ``run_id`` are ignored). Raises
    ``MedviewError`` for a bad request before anything is trained."""
    from training.study_report import write_study_report

    study = _open_study(cfg, models, study_id, resume, emit, should_cancel)
    _announce(study)
    inner = StudyEmitter(emit)
    write_study_report(cfg.project, study.study_id, final=False)
    for k, model in enumerate(study.models):
        emit(msg.Progress("study", k, len(study.models)))
        if _train_model(study, model, inner) == "cancelled":
            return _stop(cfg.project, study.outcome, emit, "cancelled")
    emit(msg.Progress("study", len(study.models), len(study.models)))
    return _stop(cfg.project, study.outcome, emit, "finished")


def _open_study(
    cfg: TrainConfig,
    models: Sequence[str] | None,
    study_id: str | None,
    resume: str | None,
    emit: Emit,
    should_cancel: Callable[[], bool],
) -> _StudyRun:
    """The study resumed (its own spec) or created (spec from ``cfg`` and ``models``)."""
    with Project.open(cfg.project) as project:
        if resume:
            study = project.get_study(resume)
            if study.kind != "compare":
                raise ConfigError(f"{resume} is a {study.kind} study: resume it with 'tune'")
            study_id = study.id
            spec = dict(study.spec)
            spec["owner"] = owner()
            project.update_study_spec(study_id, spec)
            project.set_study_status(study_id, "running")
        else:
            models = parse_models(models or [])
            cfg.validate()
            base = base_config(cfg, shared_size(cfg, models))
            study_id = study_id or new_study_id(project)
            runs = {m: f"{study_id}-{m}" for m in models}
            spec = {"kind": "compare", "models": list(models), "base": base, "runs": runs}
            spec["owner"] = owner()
            project.create_study(study_id, "compare", spec)
        folder = project.study_dir(study_id)
        existing = {r.id: r for r in project.study_runs(study_id)}
    return _StudyRun(
        cfg, study_id, spec, list(spec["models"]), dict(spec["base"]), folder, existing,
        emit, should_cancel,
    )  # fmt: skip


def _announce(study: _StudyRun) -> None:
    base = study.base
    plan = msg.RunPlan(
        study_id=study.study_id,
        kind="compare",
        models=list(study.models),
        folds=list(range(1, int(base.get("folds") or 0) + 1)),
        epochs=base.get("epochs"),
        size=base.get("size"),
        study_dir=str(study.folder),
    )
    study.emit(msg.Started(study.study_id, plan))
    names = ", ".join(study.models)
    study.emit(msg.Log(f"study {study.study_id}: {names}; input {base['size']} px for all"))


def _train_model(study: _StudyRun, model: str, inner: StudyEmitter) -> str | None:
    """One model's run (a finished one is kept, an unfinished one trained again); "cancelled"
    when the user stopped the study."""
    from training.api import run_training
    from training.study_report import write_study_report

    emit, cfg, outcome = study.emit, study.cfg, study.outcome
    run_id = study.spec["runs"][model]
    old = study.existing.get(run_id)
    if old is not None and old.status == "finished":
        emit(msg.Log(f"{model}: finished run {run_id} kept"))
        return None
    _clear_unfinished(cfg.project, run_id, old, model, emit)
    if study.should_cancel():
        return "cancelled"
    inner.model = model
    config = run_config(cfg.project, study.base, model, run_id, study.study_id)
    try:
        result = run_training(config, inner, study.should_cancel)
    except MedviewError as exc:  # refused before the run existed (e.g. wrong channels)
        outcome.failed[model] = str(exc)
        emit(msg.Log(f"{model}: not trained: {exc}", "error"))
        return None
    if result.status == "cancelled":
        return "cancelled"
    if result.status == "failed":
        outcome.failed[model] = result.error or "failed"
    write_study_report(cfg.project, study.study_id, final=False, failed=outcome.failed)
    return None


def _clear_unfinished(project_path: str, run_id: str, old: Any, model: str, emit: Emit) -> None:
    with Project.open(project_path) as project:
        if old is not None:
            project.delete_run(run_id)
            emit(msg.Log(f"{model}: unfinished run {run_id} ({old.status}) trained again"))
        else:
            # Killed between the folder and the database row: nothing of value in it
            # (never through a link: see RunStore.remove_run_folder).
            project.remove_run_folder(run_id)


def _stop(project_path: str, outcome: StudyOutcome, emit: Emit, status: str) -> StudyOutcome:
    from training.study_report import write_study_report

    outcome.status = status
    message = None
    if outcome.failed:
        message = "; ".join(f"{m}: {why}" for m, why in outcome.failed.items())
    with Project.open(project_path) as project:
        project.set_study_status(outcome.study_id, status, message)
    # after the status: study.json records the study's end state
    outcome.report = write_study_report(project_path, outcome.study_id, failed=outcome.failed)
    if status == "cancelled":
        emit(msg.Log("study cancelled; finished runs kept (resume with --resume)", "warning"))
        emit(msg.Cancelled(outcome.study_id))
    else:
        best = outcome.report.get("best")
        emit(
            msg.Finished(
                outcome.study_id,
                str(outcome.folder),
                {"best": best, "models": len(outcome.report.get("rows", []))},
            )
        )
    return outcome
