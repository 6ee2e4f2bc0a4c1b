"""Longest stall of the GUI event loop while a real run trains on the CPU.

Opens the real main window on a synthetic project, presses Train (the real spawned worker:
k-fold, small 3D CNN), and while it runs a 10 ms QTimer records the gap between its ticks;
a stall is the gap minus 10 ms. Meanwhile the "user" keeps working: scrolls slices and moves
to the next item every 100 ms. Everything the window does for the run (draining the queue,
updating plots, the end-of-run refresh of predictions and run history) is in the loop being
measured, from the click on Train to the run's end.

Prints one JSON line. Target: max stall < 50 ms.

    python bench/ui_responsiveness.py [--items 40] [--epochs 4] [--folds 3] [--size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tests/projects.py: the synthetic projects of the tests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--model", default="cnn3d_small")
    parser.add_argument("--trace", action="store_true", help="the 5 worst gaps and nearby events")
    args = parser.parse_args()

    from projects import make_volume_project as make_project
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer

    from medview.ui.app import create_app
    from medview.ui.main_window import MainWindow
    from medview.ui.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="medview-bench-"))
    # A throw-away settings file: the bench must not move the user's docks or recent list.
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    project = make_project(tmp, n=args.items, unlabelled=max(4, args.items // 8))
    app = create_app()
    window = MainWindow(Settings())
    window.resize(1400, 900)
    window.show()
    window.set_project(project)
    panel = window.training_panel
    panel.form.set_values(
        {
            "model": args.model,
            "epochs": args.epochs,
            "folds": args.folds,
            "batch_size": 8,
            "size": args.size,
            "augment": "light",
        }
    )
    for _ in range(20):
        app.processEvents()

    gaps: list[float] = []
    ends: list[float] = []
    clock = QElapsedTimer()
    last = [0.0]

    worst = [0.0, 0.0]  # gap, when (ms since the start)

    events: list[tuple[float, str]] = []  # (ms, what): for --trace

    def note(what: str) -> None:
        events.append((clock.nsecsElapsed() / 1e6, what))

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        gaps.append(now - last[0])
        ends.append(now)
        if len(gaps) > 1 and gaps[-1] > worst[0]:
            worst[:] = [gaps[-1], now]
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)

    user_steps = [0]

    def user() -> None:  # keep browsing while the run trains
        user_steps[0] += 1
        note("user" if user_steps[0] % 10 else "user: next item")
        if user_steps[0] % 10 == 0:
            current = window.browser.current_id()
            nxt = window.browser.neighbour(current, 1) if current is not None else None
            window.browser.select_item(
                nxt if nxt is not None else window.browser.model.items()[0].id
            )
        else:
            window.slice_view.step(1 if user_steps[0] % 20 < 10 else -1)

    browsing = QTimer()
    browsing.setInterval(100)
    browsing.timeout.connect(user)

    status: list[str] = []
    panel.runEnded.connect(lambda s, _r: status.append(s))
    clock.start()
    timer.start()
    browsing.start()
    t0 = time.perf_counter()
    if not panel.start():
        print(json.dumps({"error": panel.status.text()}))
        return 1
    panel.bridge.message.connect(lambda m: note(m.type))
    epochs_seen = [0]
    panel.bridge.epoch.connect(lambda *_: epochs_seen.__setitem__(0, epochs_seen[0] + 1))
    loop = QEventLoop()  # the real event loop, as in the application
    panel.runEnded.connect(lambda *_: loop.quit())
    QTimer.singleShot(900_000, loop.quit)
    loop.exec()
    seconds = time.perf_counter() - t0
    timer.stop()
    browsing.stop()
    stalls = sorted(max(0.0, g - 10.0) for g in gaps[1:])
    result = {
        "bench": "ui_responsiveness",
        "platform": os.environ.get("QT_QPA_PLATFORM", ""),
        "status": status[0] if status else "timeout",
        "run_seconds": round(seconds, 2),
        "epochs_seen": epochs_seen[0],
        "ticks": len(gaps),
        "max_stall_ms": round(stalls[-1], 2) if stalls else None,
        "p99_stall_ms": round(stalls[int(len(stalls) * 0.99)], 2) if stalls else None,
        "worst_at_s": round(worst[1] / 1000, 2),
        "median_gap_ms": round(sorted(gaps)[len(gaps) // 2], 2) if gaps else None,
        "user_actions": user_steps[0],
        "target_ms": 50,
        "items": args.items,
        "model": args.model,
        "size": args.size,
    }
    print(json.dumps(result))
    if args.trace:
        worst5 = sorted(range(1, len(gaps)), key=lambda k: gaps[k], reverse=True)[:5]
        for k in worst5:
            start, end = ends[k] - gaps[k], ends[k]
            near = [w for t, w in events if start - 5 <= t <= end + 1]
            print(f"gap {gaps[k]:.1f} ms at {end / 1000:.2f} s: {near}", file=sys.stderr)
    window.close()
    return 0 if status == ["finished"] else 1


if __name__ == "__main__":
    sys.exit(main())
