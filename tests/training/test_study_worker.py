"""The window's search job (training.study_worker.tune_job) run in-process: its messages end
with exactly one terminal message, the search's, carrying the best settings."""

from __future__ import annotations

import threading

import pytest
from projects import make_project
from synth import install_fallback_reader

from medview.core import messages as msg
from training.study_worker import tune_job


class _Queue(list):
    def put(self, item):
        self.append(item)

    def cancel_join_thread(self):
        pass


@pytest.mark.slow
def test_tune_job_reports_one_terminal_message_with_the_best_settings(tmp_path):
    install_fallback_reader()
    project = make_project(tmp_path, 12, kind="2d", size=16)
    folder = project.folder
    project.close()
    train = dict(
        folds=2, epochs=1, size=16, threads=1, augment="none", predict_unlabelled=False,
        precise_bn=False, model="cnn_small",
    )  # fmt: skip
    queue = _Queue()
    config = {"project": str(folder), "train": train, "budget": 1, "models": ["cnn_small"]}
    tune_job(config, queue, threading.Event())
    messages = [msg.from_dict(m) for m in queue]
    assert [m.type for m in messages if m.terminal] == ["finished"]
    assert messages[0].type == "started" and messages[0].plan.kind == "tune"
    final = messages[-1]
    assert final.summary["best_settings"]["model"] == "cnn_small"
    assert any(m.type == "progress" and m.stage == "tune" and m.done == 1 for m in messages)
