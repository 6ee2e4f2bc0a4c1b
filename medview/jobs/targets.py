"""The jobs the window can start in a spawned process, by name: one registry, so no window
module spells an engine path. Each names a function of ``training.jobs`` (where the one job
wrapper lives); the runner imports it in the child process only, so the window never loads
torch."""

from __future__ import annotations

JOBS: dict[str, str] = {
    name: f"training.jobs:{name}"
    for name in ("train", "predict", "probe_device", "export_model", "apply", "gradcam")
}
JOBS.update({"study": "training.jobs:study", "tune": "training.jobs:tune"})


def target(name: str) -> str:
    """The runner target of the job called ``name`` (KeyError for a job that does not exist)."""
    return JOBS[name]
