"""`medview train` (and ``python -m training``): the run started from the flags, its messages
printed as JSON lines or a one-line progress bar, Ctrl-C as a clean cancel, a summary line.

No torch at module level; ``cmd_train`` imports the engine when it runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from medview.core.errors import MedviewError
from training.train_arguments import config_from_args


class ProgressPrinter:
    """Turns run messages into JSON lines (stdout) or a one-line progress bar (stderr)."""

    def __init__(self, json_lines: bool, stream: Any = None) -> None:
        self.json_lines = json_lines
        self.stream = stream or (sys.stdout if json_lines else sys.stderr)
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_progress = 0.0

    def __call__(self, message: Any) -> None:
        if self.json_lines:
            if message.type == "progress" and not self._due(message.done == message.total):
                return
            self.stream.write(message.to_json() + "\n")
            self.stream.flush()
            return
        kind = message.type
        if kind == "epoch":
            self._line(_epoch_bar(message), final=not self.tty)
        elif kind == "progress":
            if self._due(message.done == message.total):
                self._line(f"loading {message.done}/{message.total}", final=not self.tty)
        elif kind == "log":
            if message.level == "debug" and not os.environ.get("MEDVIEW_DEBUG"):
                return  # tracebacks: in the run's log.txt, not on a user's terminal
            text = message.text
            self._line(f"{message.level}: {text}" if message.level != "info" else text, True)
        elif kind in ("started", "finished", "cancelled"):
            self._line(_milestone(message), final=True)

    def _due(self, last: bool) -> bool:
        now = time.monotonic()
        if last or now - self.last_progress > 0.5:
            self.last_progress = now
            return True
        return False

    def _line(self, text: str, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _epoch_bar(message: Any) -> str:
    width = 30
    filled = int(width * message.fraction_done)
    eta = _duration(message.eta_seconds) if message.eta_seconds is not None else "?"
    auc = f"{message.val_auc:.3f}" if message.val_auc is not None else "n/a"
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {message.fraction_done:4.0%} "
        f"fold {message.fold} epoch {message.epoch}/{message.epochs} "
        f"loss {message.train_loss:.4f}/{message.val_loss:.4f} AUC {auc} ETA {eta}"
    )


def _milestone(message: Any) -> str:
    """The line for a run (or study) that started, finished or was cancelled."""
    if message.type == "started" and message.plan.study_id:
        plan = message.plan
        return f"{plan.kind} {plan.study_id}: {', '.join(plan.models)}"
    if message.type == "started":
        plan = message.plan
        return (
            f"run {message.run_id}: {plan.model} on {plan.items} items, "
            f"folds {plan.folds}, {plan.epochs} epochs, "
            f"device {plan.device}"
        )
    if message.type == "finished":
        return f"finished: {message.run_dir}"
    return f"cancelled (completed folds kept: {message.completed_folds or 'none'})"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def cmd_train(args: argparse.Namespace) -> int:
    """Train / cross-validate; SIGINT cancels cleanly (status cancelled, folds kept)."""
    cfg = config_from_args(args)
    if getattr(args, "config", None):
        cfg = _with_config_file(cfg, args)
    cfg.validate()
    outcome = _run_cancellable(cfg, ProgressPrinter(args.json_progress))
    if outcome.status == "failed":
        raise MedviewError(f"training failed: {outcome.error}")
    if outcome.status == "cancelled":
        return 1
    if not args.json_progress and outcome.metrics:
        print(_summary_line(outcome.run_id, outcome.metrics))
    return 0


def _with_config_file(cfg: Any, args: argparse.Namespace) -> Any:
    """--config FILE: an earlier run's settings, overridden by the flags the user typed (those
    that differ from their defaults)."""
    from training.rerun import config_with_overrides

    defaults = getattr(args, "train_defaults", {})
    overrides = {
        k: v
        for k, v in cfg.to_dict().items()
        if k in defaults and k != "project" and _differs(v, defaults[k])
    }
    return config_with_overrides(
        args.config,
        str(args.project),
        overrides,
        allow_download=getattr(args, "allow_download", False),
    )


def _run_cancellable(cfg: Any, printer: ProgressPrinter) -> Any:
    """The run, with Ctrl-C as a cancel after the current batch (twice: stop at once)."""
    from training.api import run_training

    return with_sigint_cancel(lambda cancelled: run_training(cfg, printer, cancelled))


def with_sigint_cancel(body: Callable[[Callable[[], bool]], Any]) -> Any:
    """Run ``body(cancelled)`` with Ctrl-C setting ``cancelled`` (the engine stops after the
    current batch and still writes its report); a second Ctrl-C stops at once. Train, study and
    tune all go through here."""
    cancel = threading.Event()
    previous = None

    def on_sigint(signum: int, frame: Any) -> None:
        if cancel.is_set():  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        cancel.set()
        sys.stderr.write("\ncancelling after this batch (Ctrl-C again to stop at once)\n")

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        return body(cancel.is_set)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _differs(value: Any, default: Any) -> bool:
    if isinstance(value, list | tuple) and isinstance(default, list | tuple):
        return list(value) != list(default)
    return value != default


def _fmt(stat: Any) -> str:
    if isinstance(stat, dict):
        if stat.get("mean") is None:
            return "n/a"
        return f"{stat['mean']:.3f}±{stat.get('std') or 0:.3f}"
    return "n/a" if stat is None else f"{stat:.3f}"


def _summary_line(run_id: str | None, metrics: dict[str, Any]) -> str:
    s = metrics.get("summary", {})
    text = f"{run_id}: AUC {_fmt(s.get('roc_auc'))}, accuracy {_fmt(s.get('accuracy'))}"
    if metrics.get("test"):
        text += f"; test (ensemble) AUC {_fmt(metrics['test'].get('roc_auc'))}"
    levels = metrics.get("levels") or {}
    if levels:  # slice mode: the headline is per volume; every level's AUC beside it
        parts = [
            f"{name} {_fmt((levels[name].get('summary') or {}).get('roc_auc'))}"
            for name in ("slice", "volume", "patient")
            if levels.get(name)
        ]
        text += f"\n  AUC by level (mean ± std over folds): {', '.join(parts)}"
    return text
