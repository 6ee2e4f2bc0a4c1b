"""Message types: dict/JSON round trips, terminal flags, tolerance of unknown keys."""

from __future__ import annotations

import json
import pickle

import pytest

from medview.jobs import messages as msg


@pytest.mark.parametrize(
    "message",
    [
        msg.Started("r1", {"model": "cnn_small", "folds": [1, 2]}),
        msg.Progress("loading", 3, 10),
        msg.Epoch("r1", 1, 2, 30, 0.6, 0.7, 0.8, 0.75, 1e-3, 1.5, 42.0, 0.1),
        msg.FoldDone("r1", 1, {"roc_auc": 0.9}, {"fpr": [0, 1], "tpr": [0, 1]}),
        msg.Log("hello", "warning"),
        msg.Finished("r1", "/x/runs/r1", {"roc_auc": 0.9}),
        msg.Failed("boom", "r1", "Traceback..."),
        msg.Cancelled("r1", [1, 2]),
    ],
)
def test_round_trip(message):
    data = message.to_dict()
    assert data["type"] == message.type
    assert msg.from_dict(data) == message
    assert msg.from_dict(json.loads(message.to_json())) == message
    assert pickle.loads(pickle.dumps(data)) == data  # what crosses the process queue


def test_terminal_and_unknown():
    assert msg.Finished("r").terminal and msg.Failed("e").terminal and msg.Cancelled().terminal
    assert not msg.Epoch("r", 1, 1, 1, 0.1, 0.1).terminal
    assert msg.from_dict({"type": "log", "text": "x", "future_field": 1}) == msg.Log("x")
    with pytest.raises(ValueError, match="unknown message type"):
        msg.from_dict({"type": "nope"})


def test_jobs_package_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, medview.jobs.runner, medview.jobs.messages; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
