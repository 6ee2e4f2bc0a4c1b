"""What a finished run gives back in the Training dock: "Label next" (the least certain
unlabelled item), "Predict unlabelled" and a Grad-CAM map of the shown item. Each of the two
jobs is a spawned process driven by a JobBridge, one at a time. A mixin of
:class:`medview.ui.training_panel.TrainingPanel` (which owns ``window``, ``project``,
``run_id``, ``overlay``, ``side_config`` and the ``gradcamReady``/``predictionsReady`` signals).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtWidgets import QWidget

from medview.core import messages as msg
from medview.core.project import Project
from medview.ui.job_bridge import JobBridge
from medview.ui.predictions import least_certain
from medview.ui.saliency import SaliencyOverlay

if TYPE_CHECKING:
    from medview.ui.main_window import MainWindow

GRADCAM_TARGET = "training.gradcam:gradcam_job"
PREDICT_TARGET = "training.gui_jobs:predict_job"


class TrainingSideJobs(QWidget):
    """Label next, Predict unlabelled and Grad-CAM for the panel's selected run."""

    window: MainWindow
    project: Project | None
    run_id: str | None
    side_job: JobBridge | None
    side_config: dict[str, Any]
    overlay: SaliencyOverlay

    def label_next(self) -> int | None:
        browser = self.window.browser
        items = browser.model.items()
        predictions = {it.id: p for it in items if (p := browser.model.prediction(it.id))}
        target = least_certain(items, predictions)
        if target is None:
            text = "No unlabelled item has a prediction yet: train, or Predict unlabelled."
            self.window.statusBar().showMessage(text, 8000)
            return None
        browser.select_item(target)
        pred = browser.model.prediction(target)
        if pred is not None:
            self.window.statusBar().showMessage(
                f"Least certain: predicted {pred.predicted} (P {max(pred.probabilities):.2f})", 8000
            )
        return target

    def _side(self, config: dict[str, Any], target: str, done: Any, what: str) -> JobBridge | None:
        if self.project is None or self.run_id is None:
            return None
        if self.side_job is not None and self.side_job.running:
            return None
        job = JobBridge(
            {
                "project": str(self.project.folder),
                "run_id": self.run_id,
                **self.side_config,
                **config,
            },
            target,
            self,
        )
        job.finished.connect(done)
        job.failed.connect(lambda m: self._set_status(f"{what} failed: {m.error}", True))
        job.ended.connect(lambda *_: self._update_buttons())
        self.side_job = job
        job.start()
        self._set_status(f"{what}…")
        self._update_buttons()
        return job

    def predict_unlabelled(self) -> JobBridge | None:
        def done(m: msg.Finished) -> None:
            count = int(m.summary.get("predicted", 0))
            self._set_status(f"Predicted {count} unlabelled item(s) with run {m.run_id}.")
            self.refresh_predictions(lambda: self.predictionsReady.emit(count))

        return self._side({"items": "unlabelled"}, PREDICT_TARGET, done, "Predicting")

    def gradcam(self) -> JobBridge | None:
        item = self.window.current_item
        if item is None:
            self._set_status("Select an item first.")
            return None
        item_id = item.id

        def done(m: msg.Finished) -> None:
            volume = np.load(m.output, allow_pickle=False)
            self.overlay.set_map(item_id, volume)
            self.overlay.set_enabled(True)
            self.overlay.render(self.window.current_item.id if self.window.current_item else None)
            p = m.summary.get("probabilities") or []
            self._set_status(
                f"Grad-CAM of {item.name}: predicted {m.summary.get('predicted')}"
                + (f" (P {max(p):.2f})" if p else "")
            )
            self.gradcamReady.emit(item_id)

        return self._side({"item_id": item_id}, GRADCAM_TARGET, done, "Computing Grad-CAM")
