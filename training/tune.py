"""Hyper-parameter search with Optuna (``medview tune PROJECT --model M --budget 20``).

A search is a study of kind ``tune``: every trial is an ordinary run of the study
(``<study-id>-t003``), trained on the same folds as the others. What is searched:

* learning rate (log-uniform 1e-5..1e-2), batch size, weight decay (log-uniform 1e-6..1e-2)
  and augmentation strength (the presets none/light/strong);
* the model too when several are given (``--models a,b`` or ``--space 3d`` for the small 3D
  CNN and the MedicalNet depths). The search then has two objectives, CV AUC (maximised) and
  MACs per image (minimised), and its Pareto front answers "the smallest model that is as
  good". ``--train-layers`` (issue 13) does not exist yet, so it is not searched.

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

Emit = Callable[[msg.Message], None]
STORAGE_NAME = "optuna.db"
SPACE_3D = tuple(MODELS_3D)
NOT_SEARCHED = "--train-layers does not exist yet (issue 13), so it is not part of the search"


def search_space(models: Sequence[str]) -> dict[str, Any]:
    """The space as data (stored in the study spec and shown in the window)."""
    three_d = model_kind(models[0]) == "3d"
    space: dict[str, Any] = {
        "lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
        "batch_size": {"type": "categorical", "choices": [2, 4, 8] if three_d else [8, 16, 32]},
        "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
        "augment": {"type": "categorical", "choices": ["none", "light", "strong"]},
    }
    if len(models) > 1:
        space["model"] = {"type": "categorical", "choices": list(models)}
    return space


def suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    params = {}
    for name, spec in space.items():
        if spec["type"] == "float":
            params[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec["log"])
        else:
            params[name] = trial.suggest_categorical(name, spec["choices"])
    return params


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
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with Project.open(cfg.project) as project:
        project_folder = project.folder
        if resume:
            study_row = project.get_study(resume)
            if study_row.kind != "tune":
                raise ConfigError(f"{resume} is a model comparison: resume it with 'study'")
            study_id = study_row.id
            spec = dict(study_row.spec)
            spec["owner"] = owner()
            if budget and budget != spec["budget"]:
                spec["budget"] = budget  # a resumed search may be given more trials
            project.update_study_spec(study_id, spec)
            project.set_study_status(study_id, "running")
        else:
            if budget < 1:
                raise ConfigError("--budget must be at least 1 trial")
            names = _models_for(cfg, models, space_name)
            cfg.validate()
            size = shared_size(cfg, names)
            space = search_space(names)
            study_id = study_id or new_study_id(project, "tune")
            spec = {
                "kind": "tune",
                "models": names,
                "base": base_config(cfg, size),
                "budget": budget,
                "space": space,
                "objectives": ["cv_auc"] + (["macs"] if len(names) > 1 else []),
                "sampler": "TPE",
                "pruner": "median (first fold's validation AUC per epoch)"
                if len(names) == 1
                else "none (Optuna cannot prune a multi-objective search)",
                "storage": STORAGE_NAME,
                "not_searched": NOT_SEARCHED,
                "owner": owner(),
            }
            project.create_study(study_id, "tune", spec)
        folder = project.study_dir(study_id)
    base, space, names = dict(spec["base"]), spec["space"], list(spec["models"])
    multi = len(spec["objectives"]) > 1
    study = optuna.create_study(
        study_name=study_id,
        storage=storage_url(project_folder),
        load_if_exists=True,
        directions=["maximize", "minimize"] if multi else ["maximize"],
        sampler=optuna.samplers.TPESampler(seed=int(base.get("seed", 42))),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
        if not multi
        else optuna.pruners.NopPruner(),
    )
    _fail_stale_trials(study)
    done_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=done_states))
    remaining = max(0, int(spec["budget"]) - done)
    emit(
        msg.Started(
            study_id,
            msg.RunPlan(
                study_id=study_id,
                kind="tune",
                models=list(names),
                budget=int(spec["budget"]),
                done=done,
                study_dir=str(folder),
            ),
        )
    )
    emit(
        msg.Log(
            f"search {study_id}: {remaining} of {spec['budget']} trial(s) to run"
            + (f" ({done} kept from before)" if done else "")
            + f"; {NOT_SEARCHED}"
        )
    )
    inner = StudyEmitter(emit)
    outcome = TuneOutcome(study_id, "running", folder)
    user_stop = {"stop": False}

    def objective(trial: Any) -> Any:
        params = suggest(trial, space)
        model = params.pop("model", names[0])
        run_id = f"{study_id}-t{trial.number:03d}"
        trial.set_user_attr("run_id", run_id)
        trial.set_user_attr("model", model)
        pruned = {"flag": False}
        first_fold: dict[str, int | None] = {"n": None}

        def trial_emit(message: msg.Message) -> None:
            if isinstance(message, msg.Epoch) and not multi:
                if first_fold["n"] is None:
                    first_fold["n"] = message.fold
                if message.fold == first_fold["n"] and message.val_auc is not None:
                    trial.report(float(message.val_auc), message.epoch)
                    if trial.should_prune():
                        pruned["flag"] = True
            stopping = isinstance(message, msg.Cancelled) or (
                isinstance(message, msg.Log) and message.text.startswith("cancelled")
            )
            if pruned["flag"] and stopping:
                # the run stops like a cancelled one; say why in its own words
                message = msg.Log(
                    f"trial {trial.number} pruned: its first fold's validation AUC is "
                    "below the median of earlier trials at this epoch"
                )
            inner(message)

        def cancel() -> bool:
            if should_cancel():
                user_stop["stop"] = True
            return user_stop["stop"] or pruned["flag"]

        inner.model = f"trial {trial.number} ({model})"
        values = {**base, **params}
        emit(msg.Log(f"trial {trial.number}: {model} " + _describe(params)))
        try:
            result = _train(cfg.project, values, model, run_id, study_id, trial_emit, cancel)
        except MedviewError as exc:
            raise _TrialFailed(str(exc)) from exc
        outcome.trials_run += 1
        if result.status == "cancelled" and pruned["flag"] and not user_stop["stop"]:
            with Project.open(cfg.project) as project:
                project.finish_run(run_id, "cancelled", None, "pruned by the median rule")
            raise optuna.TrialPruned()
        if result.status == "cancelled":
            study.stop()
            raise _Stopped()
        if result.status != "finished":
            raise _TrialFailed(result.error or result.status)
        auc = ((result.metrics.get("summary") or {}).get("roc_auc") or {}).get("mean")
        macs = (result.metrics.get("model_info") or {}).get("macs")
        if auc is None:
            raise _TrialFailed("the run has no AUC (one class in a validation fold)")
        trial.set_user_attr("macs", macs)
        return (auc, float(macs or 0)) if multi else auc

    def after_trial(study_: Any, trial: Any) -> None:
        n = len(study_.get_trials(deepcopy=False, states=done_states))
        emit(msg.Progress("tune", n, int(spec["budget"])))
        _write(cfg.project, study_, outcome, spec, final=False)
        if should_cancel():
            user_stop["stop"] = True
            study_.stop()

    emit(msg.Progress("tune", done, int(spec["budget"])))
    if remaining and not should_cancel():
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=minutes * 60 if minutes else None,
            catch=(_TrialFailed, _Stopped),
            callbacks=[after_trial],
        )
    outcome.status = "cancelled" if user_stop["stop"] or should_cancel() else "finished"
    with Project.open(cfg.project) as project:
        project.set_study_status(study_id, outcome.status)
    _write(cfg.project, study, outcome, spec, final=True)  # study.json with the end state
    if outcome.status == "cancelled":
        emit(msg.Log("search cancelled; finished trials kept (resume with --resume)", "warning"))
        emit(msg.Cancelled(study_id))
    else:
        emit(
            msg.Finished(
                study_id,
                str(folder),
                {"best": outcome.best_run, "best_settings": outcome.best_settings},
            )
        )
    return outcome


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


def best_of(study: Any) -> tuple[Any | None, list[Any]]:
    """(the best trial, the Pareto trials). With two objectives the best is the Pareto trial
    with the highest AUC; the Pareto list is what the AUC-vs-MACs view draws."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None, []
    if len(study.directions) == 1:
        return study.best_trial, [study.best_trial]
    pareto = study.best_trials
    return max(pareto, key=lambda t: t.values[0]), pareto


def settings_of(trial: Any) -> dict[str, Any]:
    """The TrainConfig settings a trial used (what "Apply best settings" puts in the form)."""
    out = dict(trial.params)
    out["model"] = trial.user_attrs.get("model", out.get("model"))
    return out


def _write(project, study: Any, outcome: TuneOutcome, spec: dict[str, Any], final: bool) -> None:
    from training.study_report import update_tune_section, write_study_report

    best, pareto = best_of(study)
    outcome.best_run = best.user_attrs.get("run_id") if best else None
    outcome.best_settings = settings_of(best) if best else {}
    outcome.pareto_runs = [t.user_attrs.get("run_id") for t in pareto]
    trials = [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "run_id": t.user_attrs.get("run_id"),
            "model": t.user_attrs.get("model"),
            "params": t.params,
            "values": t.values,
            "macs": t.user_attrs.get("macs"),
        }
        for t in study.get_trials(deepcopy=False)
    ]
    write_study_report(project, outcome.study_id, final=final)
    update_tune_section(
        project,
        outcome.study_id,
        {
            "best_run": outcome.best_run,
            "best_settings": outcome.best_settings,
            "pareto_runs": outcome.pareto_runs,
            "trials": trials,
            "budget": spec["budget"],
            "objectives": spec["objectives"],
            "sampler": spec["sampler"],
            "pruner": spec["pruner"],
            "storage": spec["storage"],
            "not_searched": spec["not_searched"],
        },
    )
