"""What a finished run gives back in the Training dock: "Label next" (the least certain
unlabelled item), "Predict unlabelled" and a Grad-CAM map of the shown item. Each of the two
jobs is a spawned process driven by a JobBridge, one at a time; the session
(:class:`medview.jobs.training_session.TrainingSession`) says whether one may start and what
its end means. :class:`medview.ui.training_panel.TrainingPanel` owns one :class:`SideJobs`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from medview.core import messages as msg
from medview.jobs.run_texts import gradcam_text, predicted_text
from medview.jobs.training_session import TrainingSession
from medview.ui.job_bridge import JobBridge
from medview.ui.predictions import least_certain
from medview.ui.saliency import SaliencyOverlay

if TYPE_CHECKING:
    from medview.ui.training_panel import PanelHost

GRADCAM_TARGET = "training.gradcam:gradcam_job"
PREDICT_TARGET = "training.gui_jobs:predict_job"


class SideJobs(QObject):
    """Label next, Predict unlabelled and Grad-CAM for the session's used run."""

    gradcamReady = Signal(int)  # item id
    predictionsReady = Signal(int)  # how many items were predicted

    def __init__(
        self,
        host: PanelHost,
        session: TrainingSession,
        overlay: SaliencyOverlay,
        refresh_predictions: Callable[[Callable[[], None]], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.host = host
        self.session = session
        self.overlay = overlay
        self.refresh_predictions = refresh_predictions  # then show them, then call back
        self.job: JobBridge | None = None  # the running (or last) side job

    def label_next(self) -> int | None:
        browser = self.host.browser
        items = browser.model.items()
        predictions = {it.id: p for it in items if (p := browser.model.prediction(it.id))}
        target = least_certain(items, predictions)
        if target is None:
            text = "No unlabelled item has a prediction yet: train, or Predict unlabelled."
            self.host.show_status(text, 8000)
            return None
        browser.select_item(target)
        pred = browser.model.prediction(target)
        if pred is not None:
            self.host.show_status(
                f"Least certain: predicted {pred.predicted} (P {max(pred.probabilities):.2f})", 8000
            )
        return target

    def _start(
        self, settings: dict[str, Any], target: str, done: Callable[[msg.Finished], None], what: str
    ) -> JobBridge | None:
        config = self.session.side_config(what, settings)
        if config is None:
            return None
        job = JobBridge(config, target, self)
        job.finished.connect(done)
        job.ended.connect(lambda _status: self.session.side_ended(job.job.final))
        self.job = job
        job.start()
        self.session.side_started()
        return job

    def predict_unlabelled(self) -> JobBridge | None:
        def done(m: msg.Finished) -> None:
            count, text = predicted_text(m)
            self.session.status(text)
            self.refresh_predictions(lambda: self.predictionsReady.emit(count))

        return self._start({"items": "unlabelled"}, PREDICT_TARGET, done, "Predicting")

    def gradcam(self) -> JobBridge | None:
        item = self.host.current_item()
        if item is None:
            self.session.status("Select an item first.")
            return None
        item_id = item.id

        def done(m: msg.Finished) -> None:
            volume = np.load(m.output, allow_pickle=False)
            self.overlay.set_map(item_id, volume)
            self.overlay.set_enabled(True)
            shown = self.host.current_item()
            self.overlay.render(shown.id if shown else None)
            self.session.status(gradcam_text(item.name, m))
            self.gradcamReady.emit(item_id)

        return self._start({"item_id": item_id}, GRADCAM_TARGET, done, "Computing Grad-CAM")

    def shutdown(self) -> None:
        if self.job is not None and self.job.running:
            self.job.kill()
