"""Run history's "Export model…" and the Training menu's "Apply to folder…".

Both run in a spawned job (training.gui_jobs export_model_job / apply_job) so torch never
loads in the window's process; the dialogs only collect a format, a folder and an output file.
Results and problems go to the panel's status line; skipped files of an apply are listed in a
message box so the user sees which files were not scored and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from medview.core import messages as msg
from medview.ui.job_bridge import JobBridge

if TYPE_CHECKING:
    from medview.ui.training_panel import TrainingPanel

EXPORT_TARGET = "training.gui_jobs:export_model_job"
APPLY_TARGET = "training.gui_jobs:apply_job"
FORMATS = {"ONNX (model.onnx)": "onnx", "TorchScript (model.pt)": "torchscript"}


class ModelActions(QObject):
    def __init__(self, panel: TrainingPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.job: JobBridge | None = None

    def _start(self, config: dict[str, Any], target: str, done: Any, what: str) -> JobBridge | None:
        project = self.panel.project
        if project is None:
            return None
        if self.job is not None and self.job.running:
            self.panel.set_status("An export or apply is already running.", True)
            return None
        job = JobBridge({"project": str(project.folder), "threads": 1, **config}, target, self)
        job.finished.connect(done)
        job.failed.connect(lambda m: self.panel.set_status(f"{what} failed: {m.error}", True))
        job.progress.connect(lambda stage, d, t: self.panel.set_status(f"{what}: {d}/{t} {stage}"))
        self.job = job
        job.start()
        self.panel.set_status(f"{what}…")
        return job

    def export_model(
        self, run_id: str, fmt: str | None = None, out: str | None = None
    ) -> JobBridge | None:
        if fmt is None:
            choice, ok = QInputDialog.getItem(
                self.panel, "Export model", f"Export run {run_id} as:", list(FORMATS), 0, False
            )
            if not ok:
                return None
            fmt = FORMATS[choice]
        if out is None:
            out = QFileDialog.getExistingDirectory(self.panel, "Folder for the exported model")
            if not out:
                return None

        def done(m: msg.Finished) -> None:
            files = m.summary.get("files") or []
            self.panel.set_status(
                f"Exported run {run_id} as {fmt}: {', '.join(files)} (checked against medview's "
                "own outputs)"
            )

        return self._start(
            {"run_id": run_id, "format": fmt, "out": out}, EXPORT_TARGET, done, "Exporting"
        )

    def apply_to_folder(
        self, run_id: str | None = None, sources: list[str] | None = None, out: str | None = None
    ) -> JobBridge | None:
        run_id = run_id or self.panel.run_id
        if run_id is None:
            self.panel.set_status("Select a finished run first (Run history, Open plots).", True)
            return None
        if sources is None:
            folder = QFileDialog.getExistingDirectory(self.panel, "Folder of images to score")
            if not folder:
                return None
            sources = [folder]
        if out is None:
            out, _ = QFileDialog.getSaveFileName(
                self.panel, "Save predictions as", "predictions.csv", "CSV (*.csv)"
            )
            if not out:
                return None

        def done(m: msg.Finished) -> None:
            skipped = m.summary.get("skipped") or []
            text = f"Scored {m.summary.get('predicted', 0)} image(s) with run {run_id} -> {out}"
            if skipped:
                text += f"; {len(skipped)} file(s) could not be read"
            self.panel.set_status(text, bool(skipped))
            if skipped:
                box = QMessageBox(self.panel)
                box.setWindowTitle("Apply to folder")
                box.setText(text)
                box.setDetailedText("\n".join(skipped))
                box.open()

        return self._start(
            {"run_id": run_id, "sources": list(sources), "out": out}, APPLY_TARGET, done, "Applying"
        )
