"""More kill -9 trials than the quick suite runs (``pytest -m slow``): bursts of labels
through the CLI entry point and through the window, killed at random moments, in both
journal modes; each trial must lose no acknowledged label and leave a sound database.
Prints the totals (run with -s to see them)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from rb_helpers import cli_env
from test_crash import _burst_and_kill, _project

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["cli", "gui"])
@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_many_kill_9_trials_lose_nothing(tmp_path: Path, mode: str, journal: str) -> None:
    if mode == "gui":
        pytest.importorskip("PySide6")
    trials = 15 if mode == "cli" else 8
    rng = random.Random(f"{mode}-{journal}")
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(
        MEDVIEW_JOURNAL=journal,
        QT_QPA_PLATFORM="offscreen",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home),
    )
    lost = 0
    acks_total = 0
    for trial in range(trials):
        folder = _project(tmp_path / f"t{trial}")
        acks = rng.randint(1, 300)
        acks_total += acks
        lost += _burst_and_kill(mode, folder, acks, env)
    print(f"\nkill -9 {mode}/{journal}: {trials} trials, >= {acks_total} acknowledged, {lost} lost")
    assert lost == 0
