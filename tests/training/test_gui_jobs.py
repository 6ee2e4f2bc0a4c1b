"""The window's one-shot jobs, called in-process: each ends with one terminal message."""

from __future__ import annotations

from training.gradcam import gradcam_job
from training.gui_jobs import predict_job, probe_device


class ListQueue(list):
    def put(self, item):
        self.append(item)


def test_probe_names_the_device():
    queue = ListQueue()
    probe_device({}, queue, None)
    assert [m["type"] for m in queue] == ["finished"]
    assert queue[0]["summary"]["device"]  # "CPU" here, a GPU's name elsewhere


def test_jobs_on_a_missing_run_fail_with_a_message(project3d):
    for job, extra in ((predict_job, {}), (gradcam_job, {"item_id": 1})):
        queue = ListQueue()
        job({"project": str(project3d.folder), "run_id": "nope", **extra}, queue, None)
        assert [m["type"] for m in queue] == ["failed"], queue
        assert "nope" in queue[0]["error"]
