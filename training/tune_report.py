"""A search's results: the best trial, the Pareto trials, the settings a trial used, and the
study files (study.json's ``tune`` section beside the study report) after every trial."""

from __future__ import annotations

from typing import Any


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


def write_tune_files(
    project: Any, study: Any, outcome: Any, spec: dict[str, Any], final: bool
) -> None:
    """Fill ``outcome``'s best run and settings and write the study's files."""
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
