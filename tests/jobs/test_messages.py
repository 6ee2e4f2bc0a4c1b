"""Message types: dict/JSON round trips, terminal flags, tolerance of unknown keys."""

from __future__ import annotations

import json
import pickle

import pytest

from medview.core import messages as msg


@pytest.mark.parametrize(
    "message",
    [
        msg.Started("r1", msg.RunPlan(model="cnn_small", folds=[1, 2], classes=["a", "b"])),
        msg.Progress("loading", 3, 10),
        msg.Epoch("r1", 1, 2, 30, 0.6, 0.7, 0.8, 0.75, 1e-3, 1.5, 42.0, 0.1),
        msg.FoldDone("r1", 1, {"roc_auc": 0.9}, {"fpr": [0, 1], "tpr": [0, 1]}),
        msg.Log("hello", "warning"),
        msg.Finished("r1", "/x/runs/r1", {"roc_auc": 0.9}),
        msg.Finished("r1", "/x/runs/r1", {"predicted": "b"}, output="/x/cache/gradcam/r1-3.npy"),
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


def test_the_plan_is_typed_and_tolerant():
    started = msg.from_dict(
        {"type": "started", "run_id": "r", "plan": {"model": "m", "epochs": 3, "new_key": 1}}
    )
    assert isinstance(started, msg.Started) and isinstance(started.plan, msg.RunPlan)
    assert started.plan.model == "m" and started.plan.epochs == 3 and started.plan.folds == []
    # The wire form keeps the plan a plain dict (what --json-progress prints).
    assert started.to_dict()["plan"]["model"] == "m"


def test_the_final_message_guard_always_reports():
    from medview.core.errors import ReadError

    sent: list[msg.Message] = []
    with msg.final_message_guard(sent.append):
        raise ReadError("/data/x.dcm", "truncated")
    with msg.final_message_guard(sent.append):
        raise ZeroDivisionError("boom")
    with msg.final_message_guard(sent.append):
        sent.append(msg.Finished("r"))
    user, crash, ok = sent
    assert isinstance(user, msg.Failed) and "x.dcm" in user.error and user.traceback == ""
    assert isinstance(crash, msg.Failed) and crash.error == "ZeroDivisionError: boom"
    assert "ZeroDivisionError" in crash.traceback
    assert isinstance(ok, msg.Finished)


def test_the_old_import_path_is_the_same_protocol():
    from medview.jobs import messages as old

    assert old.Started is msg.Started and old.from_dict is msg.from_dict


def test_jobs_package_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, medview.jobs.runner, medview.core.messages; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
