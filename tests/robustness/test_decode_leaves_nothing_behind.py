"""Issue 10, "processes and files left behind": DICOM decoding starts no process that could
outlive its parent, and a script without a ``__main__`` guard runs once.

Before, a compressed series was decoded by a forkserver process pool: killing the window or
CLI (SIGTERM, SIGKILL, SIGHUP) left the forkserver, its workers and the resource tracker
running with pinned shared memory, and every pool worker re-ran a guard-less script (a script
appending 3 CSV rows wrote 9; from stdin it printed tracebacks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from io_helpers import write_series

ROOT = Path(__file__).resolve().parents[2]


def _j2k_series(folder: Path, count: int = 24) -> Path:
    from pydicom.uid import JPEG2000Lossless

    write_series(folder, count, (48, 48), compress=JPEG2000Lossless)
    return folder


def _processes_with_marker(marker: str) -> list[int]:
    """Every process whose environment carries ``marker`` (children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours
        if marker.encode() in environ:
            found.append(int(entry.name))
    return found


def _env(marker: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env["MEDVIEW_LEAK_MARKER"] = marker
    env["MEDVIEW_DECODE_THREADS"] = "2"
    return env


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGHUP])
def test_killing_a_reader_leaves_no_decode_process(tmp_path: Path, sig: signal.Signals) -> None:
    folder = _j2k_series(tmp_path / "s")
    marker = f"leak-{uuid.uuid4().hex}"
    script = (
        "import sys, time\n"
        "from medview.io.readers import read_image\n"
        f"image = read_image({str(folder)!r})\n"
        "print(image.shape[0], flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=_env(marker)
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "24"  # the series is read: decoding happened
        helpers = [pid for pid in _processes_with_marker(marker) if pid != child.pid]
        assert helpers == []  # nothing besides the reader itself, not even while it lives
        child.send_signal(sig)
        child.wait(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    deadline = time.monotonic() + 5
    while _processes_with_marker(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with_marker(marker) == []


SCRIPT = """
import csv, sys
from medview.io.readers import read_image

with open(sys.argv[1] if len(sys.argv) > 1 else {rows!r}, "a", newline="") as handle:
    csv.writer(handle).writerow(["before"])
image = read_image({folder!r})
with open(sys.argv[1] if len(sys.argv) > 1 else {rows!r}, "a", newline="") as handle:
    csv.writer(handle).writerow(["after", image.shape[0]])
"""


def test_a_script_without_main_guard_runs_once(tmp_path: Path) -> None:
    folder = _j2k_series(tmp_path / "s")
    rows = tmp_path / "rows.csv"
    script = tmp_path / "no_guard.py"
    script.write_text(SCRIPT.format(rows=str(rows), folder=str(folder)))
    run = subprocess.run(
        [sys.executable, str(script)],
        env=_env("guard"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert rows.read_text().splitlines() == ["before", "after,24"]


def test_reading_from_stdin_works_without_tracebacks(tmp_path: Path) -> None:
    folder = _j2k_series(tmp_path / "s")
    rows = tmp_path / "rows.csv"
    run = subprocess.run(
        [sys.executable, "-"],
        input=SCRIPT.format(rows=str(rows), folder=str(folder)),
        env=_env("stdin"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert rows.read_text().splitlines() == ["before", "after,24"]
