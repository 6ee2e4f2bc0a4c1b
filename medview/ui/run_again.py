"""Run history's "Run again": a past run's settings (its ``config.json``, the file that
``medview train PROJECT --config FILE`` reads) go back into the training form, and a new run
starts with them. The old run stays in the history; the new one gets a new id.

The file is read by ``training.rerun`` (no torch), so the CLI and the window agree on which
keys are settings. A file asking to download pretrained weights (``"pretrained": "download"``,
perhaps from someone else's project) makes no network call until the user says so in a dialog.

Settings the form shows (all user options, medview/ui/training_fields.py) are put into it (a
key the file lacks takes the form's default); the machine's own (threads) are not carried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QAbstractButton, QMessageBox, QWidget

from medview.core.errors import MedviewError
from medview.core.run_folder import RunFolder
from medview.ui.training_fields import BY_NAME
from training.rerun import asks_for_download, check_settings, read_run_config

if TYPE_CHECKING:
    from medview.ui.training_panel import TrainingPanel

# What the training form holds: every TrainConfig field that is a user option.
FORM_KEYS = tuple(BY_NAME)
# Settings of the original machine or run, not of the experiment: never carried over.
_NOT_CARRIED = ("threads", "fold")


def load_settings(panel: TrainingPanel, run_id: str) -> dict[str, Any]:
    """The run's settings from its config.json, checked like the CLI checks them."""
    if panel.project is None:
        raise MedviewError("No project is open.")
    path = RunFolder.of(panel.project, run_id).config
    settings = read_run_config(path, ignore_unknown=True)
    check_settings(settings, panel.project.folder, path)
    return settings


def run_again(panel: TrainingPanel, run_id: str) -> bool:
    """Fill the form with ``run_id``'s settings and start a new run; False if it cannot."""
    if panel.session.running:
        QMessageBox.information(
            panel, "Run again", "A run is in progress: wait for it to end or cancel it first."
        )
        return False
    try:
        settings = load_settings(panel, run_id)
    except MedviewError as exc:  # ConfigError: missing, unreadable or invalid config.json
        QMessageBox.warning(
            panel, "Run again", f"Cannot run {run_id} again: its settings are unusable.\n\n{exc}"
        )
        return False
    if asks_for_download(settings):
        answer = ask_download(panel, run_id)
        if answer == "cancel":
            return False
        if answer == "without":
            settings = {**settings, "pretrained": None}
    apply_to_form(panel, settings)
    others = {k: v for k, v in settings.items() if k not in FORM_KEYS and k not in _NOT_CARRIED}
    started = panel.start(once=others)  # the session's overrides still win
    if started:
        panel.log.appendPlainText(f"Running again with the settings of run {run_id}.")
    return started


def apply_to_form(panel: TrainingPanel, settings: dict[str, Any]) -> None:
    """The form's defaults, then every setting of the run that the form shows."""
    form = panel.form
    blocked = form.blockSignals(True)  # one plan check at the end, not one per field
    try:
        form.reset()
        form.set_values(
            {k: v for k, v in settings.items() if k in FORM_KEYS and k not in _NOT_CARRIED}
        )
    finally:
        form.blockSignals(blocked)
    form.changed.emit()


def ask_download(parent: QWidget, run_id: str) -> str:
    """Ask before the network call a run's settings want: "download", "without" (run with
    no pretrained weights) or "cancel"."""
    box, download, without = download_question(parent, run_id)
    box.exec()
    clicked = box.clickedButton()
    if clicked is download:
        return "download"
    if clicked is without:
        return "without"
    return "cancel"


def download_question(
    parent: QWidget | None, run_id: str
) -> tuple[QMessageBox, QAbstractButton, QAbstractButton]:
    """The question box (and its Download / Run without buttons); Cancel is the default."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Run again: download weights?")
    box.setText(
        f"The settings of run {run_id} download pretrained weights from the internet "
        "(torchvision / Hugging Face)."
    )
    box.setInformativeText(
        "Nothing is downloaded unless you allow it. You can also run without pretrained "
        "weights, or cancel and pick a local weight file in the training form."
    )
    download = box.addButton("Download and run", QMessageBox.ButtonRole.AcceptRole)
    without = box.addButton("Run without pretrained weights", QMessageBox.ButtonRole.ActionRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    return box, download, without
