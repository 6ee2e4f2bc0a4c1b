"""Short one-shot jobs the window runs in a spawned process (medview.jobs.runner targets), so
torch never loads in the GUI process: "Predict unlabelled" and the device probe.

Each ends with exactly one terminal message, like a training run.
"""

from __future__ import annotations

from typing import Any

from medview.core import messages as msg


def _guard(queue: Any, body: Any) -> None:
    def emit(message: msg.Message) -> None:
        queue.put(message.to_dict())

    with msg.final_message_guard(emit):
        body(emit)


def predict_job(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """{"project", "run_id"[, "items": "unlabelled"|"all", "device"]} -> predictions stored."""

    def body(emit: Any) -> None:
        import torch

        from medview.core.project import Project
        from training.predict import predict_run

        torch.set_num_threads(int(config.get("threads") or 1))
        with Project.open(config["project"]) as project:
            project_runs = project.runs_dir
            path, count, notes = predict_run(
                project,
                str(config["run_id"]),
                str(config.get("items", "unlabelled")),
                str(config.get("device", "auto")),
            )
        for note in notes:
            emit(msg.Log(note))
        run_dir = str(project_runs / str(config["run_id"]))
        emit(msg.Finished(str(config["run_id"]), run_dir, {"predicted": count}, output=str(path)))

    _guard(queue, body)


def probe_device(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """The device "auto" resolves to, with the GPU's name (for platforms without a cheap
    check, e.g. Windows)."""

    def body(emit: Any) -> None:
        import torch

        name = "CPU"
        if torch.cuda.is_available():
            name = torch.cuda.get_device_name(0)
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "Apple GPU (MPS)"
        emit(msg.Finished("", "", {"device": name}))

    _guard(queue, body)


def export_model_job(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """{"project", "run_id", "format": "onnx"|"torchscript", "out"[, "fold"]} -> files."""

    def body(emit: Any) -> None:
        import torch

        from medview.core.project import Project
        from training.model_export import export_model

        torch.set_num_threads(int(config.get("threads") or 1))
        with Project.open(config["project"]) as project:
            run_dir = str(project.runs_dir / str(config["run_id"]))
            files = export_model(
                project,
                str(config["run_id"]),
                str(config["out"]),
                str(config["format"]),
                config.get("fold"),
            )
        summary = {"files": [str(f) for f in files]}
        emit(msg.Finished(str(config["run_id"]), run_dir, summary, output=str(files[0])))

    _guard(queue, body)


def apply_job(config: dict[str, Any], queue: Any, cancel_event: Any) -> None:
    """{"project", "run_id", "sources": [...], "out"} -> predictions CSV of those folders."""

    def body(emit: Any) -> None:
        import torch

        from medview.core.project import Project
        from training.apply import apply_run

        torch.set_num_threads(int(config.get("threads") or 1))

        def progress(done: int, total: int, message: str = "") -> None:
            emit(msg.Progress(message or "applying", done, total))

        with Project.open(config["project"]) as project:
            run_dir = str(project.runs_dir / str(config["run_id"]))
            report = apply_run(
                project,
                str(config["run_id"]),
                list(config["sources"]),
                str(config["out"]),
                progress=progress,
                cancel=cancel_event.is_set if cancel_event is not None else None,
            )
        for skipped in report.skipped:
            emit(msg.Log(f"skipped {skipped.path}: {skipped.reason}", "warning"))
        summary = {
            "predicted": len(report.rows),
            "skipped": [f"{s.path}: {s.reason}" for s in report.skipped],
        }
        emit(msg.Finished(str(config["run_id"]), run_dir, summary, output=str(report.out)))

    _guard(queue, body)
