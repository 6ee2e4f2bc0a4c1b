"""A one-shot job (predict, export, apply, Grad-CAM) does not outlive a window killed with
kill -9: it has no cancel point where a long job would notice, so the one job wrapper
(training.jobs) ends it within seconds. And every job the window names exists."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medview.jobs.targets import JOBS

HERE = Path(__file__).resolve().parent


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_every_named_job_is_a_function_of_the_one_job_module() -> None:
    for name, target in JOBS.items():
        module, _, function = target.partition(":")
        assert module == "training.jobs", name
        assert callable(getattr(importlib.import_module(module), function)), name


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see processes")
def test_a_one_shot_job_stops_when_its_window_is_killed(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pid_file = tmp_path / "pid"
    code = (
        "import rb_workers; "
        f"rb_workers.start_job_then_wait('rb_workers:stuck_one_shot_job', {str(pid_file)!r})"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    window = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline and window.poll() is None, "the job did not start"
            time.sleep(0.2)
        job = int(pid_file.read_text())
        time.sleep(3)  # the job is running (torch imported, body entered)
        assert _alive(job)
        window.send_signal(signal.SIGKILL)
    finally:
        window.kill()
        window.wait()
    deadline = time.monotonic() + 20
    while _alive(job) and time.monotonic() < deadline:
        time.sleep(0.2)
    orphan = _alive(job)
    if orphan:
        os.kill(job, signal.SIGKILL)
    assert not orphan, "a one-shot job kept running after its window was killed"
