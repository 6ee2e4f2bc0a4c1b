"""What the Training dock says about a run, in words: the ETA, what a failure means to a
user, and what a side job's result was. Plain functions of messages (no Qt), used by
:mod:`medview.jobs.training_session` and its view."""

from __future__ import annotations

import contextlib
import re
import signal

from medview.core import messages as msg
from medview.core.errors import MedviewError
from medview.core.project import Project


def predicted_text(message: msg.Finished) -> tuple[int, str]:
    """ "Predict unlabelled" ended: how many items, and what the status line says."""
    count = int(message.summary.get("predicted", 0))
    return count, f"Predicted {count} unlabelled item(s) with run {message.run_id}."


def gradcam_text(item_name: str, message: msg.Finished) -> str:
    """Names the model it explains and its probability, "fold 2 model: P(MUT) 0.66": the fold
    models' own output, uncalibrated, which can differ from the list's P (issue 26)."""
    summary = message.summary
    p, predicted = summary.get("probabilities") or [], summary.get("predicted")
    text = f"Grad-CAM of {item_name}: predicted {predicted}"
    if not p:
        return text
    classes = list(summary.get("classes") or [])
    shown = classes[1] if len(classes) == 2 == len(p) else predicted
    value = p[classes.index(shown)] if shown in classes else max(p)
    folds = [str(f) for f in summary.get("folds") or []]
    model = (
        f"fold {folds[0]} model"
        if len(folds) == 1
        else f"mean of fold {', '.join(folds)} models"
        if folds
        else "the model"
    )
    return f"{text}; {model}: P({shown}) {value:.2f}, uncalibrated"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min"


def explain_failure(error: str) -> str:
    """A sentence for what a bare exit code means to a user."""
    match = re.search(r"exit code (-?\d+)", error)
    if not match:
        if "out of memory" in error.lower():
            return "Lower the batch size or the input size (Advanced) and train again."
        return ""
    code = int(match.group(1))
    if code in (-9, 137):
        return (
            "The system stopped the training process (SIGKILL), most often because memory ran "
            "out: lower the batch size or the input size (Advanced), or close other programs."
        )
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f"The training process was stopped by signal {name}."
    return "The training process ended without a report; its log.txt in the run folder may say why."


def in_view_text(project: Project, run_id: str) -> str:
    """The Predictions box's line naming the run in view (HTML)."""
    model = ""
    with contextlib.suppress(MedviewError):
        model = project.get_run(run_id).model or ""
    return (
        f"In view: run <b>{run_id}</b> ({model}). The list, plots, Grad-CAM and "
        "“Predict unlabelled” use it; pick another in Run history."
    )
