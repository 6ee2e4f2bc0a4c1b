"""Every job the window starts in a spawned process (medview.jobs.runner targets), behind one
wrapper: a training run, "Predict unlabelled", the device probe, model export, apply to a
folder, Grad-CAM, a model study and a hyper-parameter search.

The names the window asks for live in ``medview.jobs.targets`` (no torch there); each maps to a
function here with the runner's signature ``(config, queue, cancel_event)``. ``_run_job`` is the
one set-up they share:
- messages go out as dicts on the queue, and exactly one terminal message ends the job
  (``final_message_guard``), even when it fails before it started;
- a job whose window died (killed, crashed) stops: long jobs see it through ``should_cancel``
  at their cancel points, and one-shot jobs without cancel points (predict, export, Grad-CAM)
  are ended by a watchdog, so nothing runs on as an orphan nobody can read or cancel.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from medview.core import messages as msg
from medview.core.errors import MedviewError

Emit = Callable[[msg.Message], None]
ORPHAN_EXIT = 3  # a one-shot job's exit status when its window died


class ParentWatch:
    """Notices that the window that started this process died: nobody can cancel the job or
    read its messages any more. ``multiprocessing.parent_process()`` is the spawn parent;
    polled at most once a second."""

    def __init__(self) -> None:
        import multiprocessing

        self.parent = multiprocessing.parent_process()
        self.gone = False
        self.last = 0.0

    def __call__(self) -> bool:
        if self.parent is None or self.gone:
            return self.gone
        now = time.monotonic()
        if now - self.last >= 1.0:
            self.last = now
            self.gone = not self.parent.is_alive()
        return self.gone


def _watchdog(watch: ParentWatch) -> None:
    """End a one-shot job whose window died (it has no cancel point to notice it)."""

    def loop() -> None:
        while not watch():
            time.sleep(1.0)
        os._exit(ORPHAN_EXIT)

    threading.Thread(target=loop, name="medview-parent-watch", daemon=True).start()


def _threads(config: dict[str, Any], default: int) -> int:
    return int(config.get("threads") or default)


def _run_job(
    queue: Any,
    cancel_event: Any,
    body: Callable[[Emit, Callable[[], bool]], None],
    *,
    threads: int,
    one_shot: bool,
) -> ParentWatch:
    """The set-up every job shares (see the module's docstring); returns the watch so a long
    job can tell, after its body, whether it stopped because its window died."""
    watch = ParentWatch()
    if one_shot:
        _watchdog(watch)

    def emit(message: msg.Message) -> None:
        if not watch.gone:
            queue.put(message.to_dict())

    def should_cancel() -> bool:
        return watch() or (cancel_event is not None and cancel_event.is_set())

    with msg.final_message_guard(emit):
        import torch  # inside the guard: the first message can go out before torch loads

        torch.set_num_threads(threads)
        body(emit, should_cancel)
    if watch.gone:
        queue.cancel_join_thread()  # do not wait, at exit, to flush messages nobody will read
    return watch


def _long_threads(config: dict[str, Any]) -> int:
    return _threads(config, max(1, (os.cpu_count() or 2) - 1))  # leave a core to the GUI


# ---------------------------------------------------------------- a training run
def train(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """One training run (``config``: TrainConfig settings)."""
    outcome: dict[str, Any] = {}

    def body(emit: Emit, should_cancel: Callable[[], bool]) -> None:
        from training.engine.api import run_training
        from training.recipe.config import TrainConfig

        cfg = TrainConfig.from_dict(config)
        outcome["project"], outcome["run_id"] = cfg.project, None
        outcome["run_id"] = run_training(cfg, emit, should_cancel).run_id

    watch = _run_job(queue, cancel_event, body, threads=_long_threads(config), one_shot=False)
    if watch.gone and outcome.get("run_id"):
        _orphaned(outcome["project"], outcome["run_id"])


def _orphaned(project_path: str, run_id: str) -> None:
    """The run stopped because its window died: record that, not 'cancelled by the user'."""
    from medview.core.project import Project

    try:
        with Project.open(project_path) as project:
            project.finish_run(
                run_id, "interrupted", message="the window that started it closed or crashed"
            )
    except MedviewError:
        pass


# ---------------------------------------------------------------- one-shot jobs
def predict(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """{"project", "run_id"[, "items": "unlabelled"|"all", "device"]} -> predictions stored."""

    def body(emit: Emit, should_cancel: Callable[[], bool]) -> None:
        from medview.core.project import Project
        from training.engine.predict import predict_run

        run_id = str(config["run_id"])
        with Project.open(config["project"]) as project:
            run_dir = str(project.runs_dir / run_id)
            path, count, notes = predict_run(
                project,
                run_id,
                str(config.get("items", "unlabelled")),
                config.get("device", "auto"),
            )
        for note in notes:
            emit(msg.Log(note))
        emit(msg.Finished(run_id, run_dir, {"predicted": count}, output=str(path)))

    _run_job(queue, cancel_event, body, threads=_threads(config, 1), one_shot=True)


def probe_device(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """The device "auto" resolves to, with the GPU's name (for platforms without a cheap
    check, e.g. Windows)."""

    def body(emit: Emit, should_cancel: Callable[[], bool]) -> None:
        import torch

        name = "CPU"
        if torch.cuda.is_available():
            name = torch.cuda.get_device_name(0)
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "Apple GPU (MPS)"
        emit(msg.Finished("", "", {"device": name}))

    _run_job(queue, cancel_event, body, threads=1, one_shot=True)


def export_model(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """{"project", "run_id", "format": "onnx"|"torchscript", "out"[, "fold"]} -> files."""

    def body(emit: Emit, should_cancel: Callable[[], bool]) -> None:
        from medview.core.project import Project
        from training.outputs.model_export import export_model as export

        run_id = str(config["run_id"])
        with Project.open(config["project"]) as project:
            run_dir = str(project.runs_dir / run_id)
            files = export(
                project, run_id, str(config["out"]), str(config["format"]), config.get("fold")
            )
        summary = {"files": [str(f) for f in files]}
        emit(msg.Finished(run_id, run_dir, summary, output=str(files[0])))

    _run_job(queue, cancel_event, body, threads=_threads(config, 1), one_shot=True)


def apply(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """{"project", "run_id", "sources": [...], "out"} -> predictions CSV of those folders."""

    def body(emit: Emit, should_cancel: Callable[[], bool]) -> None:
        from medview.core.project import Project
        from training.outputs.apply import apply_run

        def progress(done: int, total: int, message: str = "") -> None:
            emit(msg.Progress(message or "applying", done, total))

        run_id = str(config["run_id"])
        with Project.open(config["project"]) as project:
            run_dir = str(project.runs_dir / run_id)
            report = apply_run(
                project,
                run_id,
                list(config["sources"]),
                str(config["out"]),
                progress=progress,
                cancel=should_cancel,
            )
        for skipped in report.skipped:
            emit(msg.Log(f"skipped {skipped.path}: {skipped.reason}", "warning"))
        summary = {
            "predicted": len(report.rows),
            "skipped": [f"{s.path}: {s.reason}" for s in report.skipped],
        }
        emit(msg.Finished(run_id, run_dir, summary, output=str(report.out)))

    _run_job(queue, cancel_event, body, threads=_threads(config, 1), one_shot=True)


def gradcam(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """{"project", "run_id", "item_id"[, "folds", "threads"]} -> a .npy file, reported by
    ``finished`` (``output`` is the file, ``summary`` the facts)."""

    def body(emit: Emit, should_cancel: Callable[[], bool]) -> None:
        from medview.core.project import Project
        from training.outputs.gradcam import save_gradcam

        with Project.open(config["project"]) as project:
            run_dir, out, facts = save_gradcam(
                project, str(config["run_id"]), int(config["item_id"]), config.get("folds")
            )
        emit(msg.Finished(str(config["run_id"]), str(run_dir), facts, output=str(out)))

    _run_job(queue, cancel_event, body, threads=_threads(config, 1), one_shot=True)


# ---------------------------------------------------------------- studies
def _study_config(config: dict[str, Any]) -> Any:
    from training.recipe.config import TrainConfig

    return TrainConfig.from_dict({**config.get("train", {}), "project": config["project"]})


def study(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """ "Compare models…": {"project", "train": {settings}, "models"[, "study_id", "resume"]}."""

    def body(emit: Emit, should_cancel: Callable[[], bool]) -> None:
        from training.studies.study import run_study

        cfg = _study_config(config)
        run_study(
            cfg,
            config.get("models"),
            emit,
            should_cancel,
            study_id=config.get("study_id"),
            resume=config.get("resume"),
        )

    threads = _long_threads(config.get("train", {}))
    _run_job(queue, cancel_event, body, threads=threads, one_shot=False)


def tune(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """ "Tune…": a study's config plus {"budget", "minutes", "space"}."""

    def body(emit: Emit, should_cancel: Callable[[], bool]) -> None:
        from training.studies.tune import run_tune

        run_tune(
            _study_config(config),
            config.get("models"),
            int(config.get("budget", 20)),
            config.get("minutes"),
            emit,
            should_cancel,
            space_name=config.get("space"),
            study_id=config.get("study_id"),
            resume=config.get("resume"),
        )

    threads = _long_threads(config.get("train", {}))
    _run_job(queue, cancel_event, body, threads=threads, one_shot=False)
