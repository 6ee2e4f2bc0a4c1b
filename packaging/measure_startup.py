"""Time from launch to the first shown window, measured from outside the process.

    python packaging/measure_startup.py dist/medview/medview [PROJECT] [--runs 3] [--cold]
    python packaging/measure_startup.py "python -m medview" [PROJECT]

Starts a private Xvfb display, launches the command (a real X11 window, not offscreen), polls
``xwininfo`` until a top-level window whose name contains "medview" is viewable (mapped), then
terminates the process. Nothing in the app is instrumented, so this is what a user waits for
after a double-click, including the bundle's bootloader and library loading. Prints one JSON
line (the bench/ convention). Needs Xvfb and xwininfo (Debian: xvfb, x11-utils).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.02


def _free_display() -> int:
    for number in range(91, 200):
        if (
            not Path(f"/tmp/.X11-unix/X{number}").exists()
            and not Path(f"/tmp/.X{number}-lock").exists()
        ):
            return number
    raise RuntimeError("no free X display number")


def _viewable_medview_window(display: str) -> bool:
    env = {**os.environ, "DISPLAY": display}
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True
    ).stdout
    for window_id in re.findall(r"^\s+(0x[0-9a-f]+) \"[^\"]*medview[^\"]*\"", tree, re.M | re.I):
        info = subprocess.run(
            ["xwininfo", "-id", window_id], env=env, capture_output=True, text=True
        ).stdout
        if "Map State: IsViewable" in info:
            return True
    return False


def evict_from_page_cache(folder: Path) -> int:
    """Ask the kernel to drop its cached pages of every file under folder (a "cold" start, as
    after unpacking or a reboot) without root and without touching other processes' files."""
    evicted = 0
    for path in folder.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            evicted += 1
        finally:
            os.close(fd)
    return evicted


def measure_once(command: list[str], display: str, timeout: float) -> float:
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    env.pop("WAYLAND_DISPLAY", None)
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while time.perf_counter() - start < timeout:
            if _viewable_medview_window(display):
                return time.perf_counter() - start
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"exited with {proc.returncode} before a window: {err[-500:]}")
            time.sleep(POLL_S)
        raise RuntimeError(f"no window within {timeout:.0f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", help="the executable, or a quoted command line")
    parser.add_argument("project", nargs="?", help="project folder to open")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--cold",
        action="store_true",
        help="evict the executable's folder from the page cache before each run",
    )
    args = parser.parse_args()
    for tool in ("Xvfb", "xwininfo"):
        if shutil.which(tool) is None:
            print(f"measure_startup: {tool} not found", file=sys.stderr)
            return 1
    command = shlex.split(args.command) + ([args.project] if args.project else [])
    number = _free_display()
    display = f":{number}"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if time.time() > deadline:
                raise RuntimeError("Xvfb did not start")
            time.sleep(0.05)
        times = []
        for _ in range(args.runs):
            if args.cold:
                executable = shutil.which(command[0]) or command[0]
                evict_from_page_cache(Path(executable).resolve().parent)
            times.append(measure_once(command, display, args.timeout))
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    print(
        json.dumps(
            {
                "bench": "launch_to_window",
                "command": command,
                "cold": args.cold,
                "runs_s": [round(t, 3) for t in times],
                "first_s": round(times[0], 3),
                "median_s": round(statistics.median(times), 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
