"""Hyper-parameter search with Optuna (``medview tune PROJECT --model M --budget 20``).

A search is a study of kind ``tune``: every trial is an ordinary run of the study
(``<study-id>-t003``), trained on the same folds as the others. What is searched:

* learning rate (log-uniform 1e-5..1e-2), batch size, weight decay (log-uniform 1e-6..1e-2)
  and augmentation strength (the presets none/light/strong);
* the model too when several are given (``--models a,b`` or ``--space 3d`` for the small 3D
  CNN and the MedicalNet depths). The search then has two objectives, CV AUC (maximised) and
  MACs per image (minimised), and its Pareto front answers "the smallest model that is as
  good";
* ``--train-layers`` (head, two last:N depths, all) when the search starts from
  ``--pretrained`` weights (training/tune_space.py says why not otherwise).

Sampler: TPE. Pruner: the median rule on the first fold's validation AUC per epoch (a trial
whose first fold is below the median of earlier trials at the same epoch is stopped; Optuna
cannot prune multi-objective studies, so a search over models is not pruned).

Storage: ``optuna.db`` (SQLite) beside the project's ``project.db``. A killed search resumes
with ``--resume STUDY``: finished and pruned trials are kept and count against the budget; a
trial that was running when the process died is marked failed and its slot is tried again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medview.core import messages as msg
from medview.core.errors import MedviewError
from medview.core.project import Project
from training.config import MODELS, MODELS_3D, ConfigError, TrainConfig, model_kind
from training.study import (
    StudyEmitter,
    base_config,
    new_study_id,
    owner,
    run_config,
    shared_size,
)
from training.tune_report import write_tune_files
from training.tune_space import NOT_SEARCHED_WITHOUT_WEIGHTS, not_searched, search_space, suggest

Emit = Callable[[msg.Message], None]
STORAGE_NAME = "optuna.db"
SPACE_3D = tuple(MODELS_3D)
NOT_SEARCHED = NOT_SEARCHED_WITHOUT_WEIGHTS  # what a search without --pretrained leaves out


def storage_url(project_folder: Path) -> str:
    return f"sqlite:///{(Path(project_folder) / STORAGE_NAME).as_posix()}"


@dataclass
class TuneOutcome:
    study_id: str
    status: str  # finished | cancelled
    folder: Path
    trials_run: int = 0  # in this session
    best_run: str | None = None
    best_settings: dict[str, Any] = field(default_factory=dict)
    pareto_runs: list[str] = field(default_factory=list)


class _TrialFailed(Exception):
    pass


class _Stopped(Exception):
    pass


def _models_for(cfg: TrainConfig, models: Sequence[str] | None, space: str | None) -> list[str]:
    if space == "3d":
        return list(SPACE_3D)
    names = list(models or ([cfg.model] if cfg.model else []))
    if not names:
        raise ConfigError("tune needs --model M (or --models a,b / --space 3d)")
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise ConfigError(f"unknown model(s) {', '.join(unknown)}")
    if len({model_kind(m) for m in names}) > 1:
        raise ConfigError("a search covers models of one kind: all 2D or all 3D")
    return names


def run_tune(
    cfg: TrainConfig,
    models: Sequence[str] | None = None,
    budget: int = 20,
    minutes: float | None = None,
    emit: Emit = lambda m: None,
    should_cancel: Callable[[], bool] = lambda: False,
    *,
    space_name: str | None = None,
    study_id: str | None = None,
    resume: str | None = None,
) -> TuneOutcome:
    """Run (or resume) a search; finished trials are kept when it is cancelled or killed."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with Project.open(cfg.project) as project:
        if resume:
            study_id, spec = _resumed_spec(project, resume, budget)
        else:
            study_id, spec = _new_spec(project, cfg, models, budget, space_name, study_id)
        folder = project.study_dir(study_id)
        storage = storage_url(project.folder)
    search = _Search(cfg, study_id, spec, folder, emit, should_cancel)
    return search.run(_optuna_study(study_id, storage, spec), minutes)


def _resumed_spec(project: Project, resume: str, budget: int) -> tuple[str, dict[str, Any]]:
    study_row = project.get_study(resume)
    if study_row.kind != "tune":
        raise ConfigError(f"{resume} is a model comparison: resume it with 'study'")
    spec = dict(study_row.spec)
    spec["owner"] = owner()
    if budget and budget != spec["budget"]:
        spec["budget"] = budget  # a resumed search may be given more trials
    project.update_study_spec(study_row.id, spec)
    project.set_study_status(study_row.id, "running")
    return study_row.id, spec


def _new_spec(
    project: Project,
    cfg: TrainConfig,
    models: Sequence[str] | None,
    budget: int,
    space_name: str | None,
    study_id: str | None,
) -> tuple[str, dict[str, Any]]:
    if budget < 1:
        raise ConfigError("--budget must be at least 1 trial")
    names = _models_for(cfg, models, space_name)
    cfg.validate()
    single = len(names) == 1
    spec = {
        "kind": "tune",
        "models": names,
        "base": base_config(cfg, shared_size(cfg, names)),
        "budget": budget,
        "space": search_space(names, cfg.pretrained),
        "objectives": ["cv_auc"] + ([] if single else ["macs"]),
        "sampler": "TPE",
        "pruner": "median (first fold's validation AUC per epoch)"
        if single
        else "none (Optuna cannot prune a multi-objective search)",
        "storage": STORAGE_NAME,
        "not_searched": not_searched(cfg.pretrained),
        "owner": owner(),
    }
    study_id = study_id or new_study_id(project, "tune")
    project.create_study(study_id, "tune", spec)
    return study_id, spec


def _optuna_study(study_id: str, storage: str, spec: dict[str, Any]) -> Any:
    """The Optuna study in the project's storage (created, or loaded to resume)."""
    import optuna

    multi = len(spec["objectives"]) > 1
    study = optuna.create_study(
        study_name=study_id,
        storage=storage,
        load_if_exists=True,
        directions=["maximize", "minimize"] if multi else ["maximize"],
        sampler=optuna.samplers.TPESampler(seed=int(spec["base"].get("seed", 42))),
        pruner=optuna.pruners.NopPruner()
        if multi
        else optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    _fail_stale_trials(study)
    return study


class _Search:
    """One search session: trials as runs of the study, progress, cancel, the study files."""

    def __init__(
        self,
        cfg: TrainConfig,
        study_id: str,
        spec: dict[str, Any],
        folder: Path,
        emit: Emit,
        should_cancel: Callable[[], bool],
    ) -> None:
        self.cfg, self.study_id, self.spec = cfg, study_id, spec
        self.emit, self.should_cancel = emit, should_cancel
        self.names = list(spec["models"])
        self.multi = len(spec["objectives"]) > 1
        self.budget = int(spec["budget"])
        self.inner = StudyEmitter(emit)
        self.outcome = TuneOutcome(study_id, "running", folder)
        self.user_stop = False
        self.study: Any = None

    def run(self, study: Any, minutes: float | None) -> TuneOutcome:
        self.study = study
        done = self._finished_count(study)
        remaining = max(0, self.budget - done)
        self._announce(done, remaining)
        if remaining and not self.should_cancel():
            study.optimize(
                self.objective,
                n_trials=remaining,
                timeout=minutes * 60 if minutes else None,
                catch=(_TrialFailed, _Stopped),
                callbacks=[self.after_trial],
            )
        return self._finish()

    @staticmethod
    def _finished_count(study: Any) -> int:
        from optuna.trial import TrialState

        done_states = (TrialState.COMPLETE, TrialState.PRUNED)
        return len(study.get_trials(deepcopy=False, states=done_states))

    def _announce(self, done: int, remaining: int) -> None:
        plan = msg.RunPlan(
            study_id=self.study_id,
            kind="tune",
            models=list(self.names),
            budget=self.budget,
            done=done,
            study_dir=str(self.outcome.folder),
        )
        self.emit(msg.Started(self.study_id, plan))
        kept = f" ({done} kept from before)" if done else ""
        left_out = f"; {self.spec['not_searched']}" if self.spec.get("not_searched") else ""
        self.emit(
            msg.Log(
                f"search {self.study_id}: {remaining} of {self.budget} trial(s) to run{kept}"
                + left_out
            )
        )
        self.emit(msg.Progress("tune", done, self.budget))

    def objective(self, trial: Any) -> Any:
        """Train one trial's run; its CV AUC (and MACs when models are compared)."""
        import optuna

        params = suggest(trial, self.spec["space"])
        model = params.pop("model", self.names[0])
        run_id = f"{self.study_id}-t{trial.number:03d}"
        trial.set_user_attr("run_id", run_id)
        trial.set_user_attr("model", model)
        watch = _TrialWatch(trial, self, prunable=not self.multi)
        self.inner.model = f"trial {trial.number} ({model})"
        self.emit(msg.Log(f"trial {trial.number}: {model} " + _describe(params)))
        values = {**self.spec["base"], **params}
        try:
            result = _train(
                self.cfg.project, values, model, run_id, self.study_id, watch.emit, watch.cancel
            )
        except MedviewError as exc:
            raise _TrialFailed(str(exc)) from exc
        self.outcome.trials_run += 1
        if result.status == "cancelled" and watch.pruned and not self.user_stop:
            with Project.open(self.cfg.project) as project:
                project.finish_run(run_id, "cancelled", None, "pruned by the median rule")
            raise optuna.TrialPruned()
        return self._score(trial, result)

    def _score(self, trial: Any, result: Any) -> Any:
        if result.status == "cancelled":
            self.study.stop()
            raise _Stopped()
        if result.status != "finished":
            raise _TrialFailed(result.error or result.status)
        auc = ((result.metrics.get("summary") or {}).get("roc_auc") or {}).get("mean")
        macs = (result.metrics.get("model_info") or {}).get("macs")
        if auc is None:
            raise _TrialFailed("the run has no AUC (one class in a validation fold)")
        trial.set_user_attr("macs", macs)
        return (auc, float(macs or 0)) if self.multi else auc

    def after_trial(self, study: Any, trial: Any) -> None:
        self.emit(msg.Progress("tune", self._finished_count(study), self.budget))
        write_tune_files(self.cfg.project, study, self.outcome, self.spec, final=False)
        if self.should_cancel():
            self.user_stop = True
            study.stop()

    def _finish(self) -> TuneOutcome:
        outcome = self.outcome
        cancelled = self.user_stop or self.should_cancel()
        outcome.status = "cancelled" if cancelled else "finished"
        with Project.open(self.cfg.project) as project:
            project.set_study_status(self.study_id, outcome.status)
        write_tune_files(
            self.cfg.project, self.study, outcome, self.spec, final=True
        )  # the end state
        if cancelled:
            text = "search cancelled; finished trials kept (resume with --resume)"
            self.emit(msg.Log(text, "warning"))
            self.emit(msg.Cancelled(self.study_id))
        else:
            best = {"best": outcome.best_run, "best_settings": outcome.best_settings}
            self.emit(msg.Finished(self.study_id, str(outcome.folder), best))
        return outcome


class _TrialWatch:
    """A trial's messages: the first fold's validation AUC reported to the pruner per epoch;
    a pruned trial stops like a cancelled run, said in its own words."""

    def __init__(self, trial: Any, search: _Search, prunable: bool) -> None:
        self.trial, self.search, self.prunable = trial, search, prunable
        self.pruned = False
        self.first_fold: int | None = None

    def emit(self, message: msg.Message) -> None:
        if isinstance(message, msg.Epoch) and self.prunable:
            self._report(message)
        stopping = isinstance(message, msg.Cancelled) or (
            isinstance(message, msg.Log) and message.text.startswith("cancelled")
        )
        if self.pruned and stopping:
            message = msg.Log(
                f"trial {self.trial.number} pruned: its first fold's validation AUC is "
                "below the median of earlier trials at this epoch"
            )
        self.search.inner(message)

    def _report(self, message: msg.Epoch) -> None:
        if self.first_fold is None:
            self.first_fold = message.fold
        if message.fold == self.first_fold and message.val_auc is not None:
            self.trial.report(float(message.val_auc), message.epoch)
            if self.trial.should_prune():
                self.pruned = True

    def cancel(self) -> bool:
        if self.search.should_cancel():
            self.search.user_stop = True
        return self.search.user_stop or self.pruned


def _train(project, values, model, run_id, study_id, emit, cancel):
    from training.api import run_training

    with Project.open(project) as p:
        # A trial number is never reused by Optuna; a leftover run is a dead trial's.
        if (p.runs_dir / run_id).exists() and any(r.id == run_id for r in p.runs()):
            p.delete_run(run_id)
    return run_training(run_config(project, values, model, run_id, study_id), emit, cancel)


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.2g}" if isinstance(v, float) else f"{k} {v}" for k, v in params.items()
    )


def _fail_stale_trials(study: Any) -> None:
    """Trials still 'running' in the storage belong to a process that died (kill -9, a
    crash, a power cut): mark them failed so they are neither counted nor waited for."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
