"""The window's answer to a refused project.db (views, triggers or unknown objects, see
medview.core.schema_check): say what was found, and offer to write a cleaned copy beside it
(``NAME-clean.medview``, made by medview.core.clean_copy, the original only read) and open
that instead."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from medview.core.clean_copy import clean_copy
from medview.core.errors import MedviewError
from medview.core.project import PROJECT_SUFFIX, Project
from medview.core.schema_check import SchemaError


def copy_path(folder: Path) -> Path:
    """A free ``NAME-clean.medview`` (then ``-clean-2``...) beside the project."""
    stem = folder.name.removesuffix(PROJECT_SUFFIX)
    for n in range(1, 100):
        suffix = "-clean" if n == 1 else f"-clean-{n}"
        candidate = folder.with_name(f"{stem}{suffix}{PROJECT_SUFFIX}")
        if not candidate.exists():
            return candidate
    raise MedviewError(f"{folder.parent}: too many cleaned copies already")


def offer_clean_copy(parent: QWidget, exc: SchemaError) -> Project | None:
    """Ask; on yes write the copy and return it opened (None when declined or failed)."""
    folder = exc.db_path.parent
    target = copy_path(folder)
    found = "\n".join(f"• {p}" for p in exc.problems[:8])
    answer = QMessageBox.question(
        parent,
        "Project refused",
        f"{folder.name} was not opened: its database holds objects medview did not make, "
        f"which could hang medview or rewrite labels:\n\n{found}\n\n"
        f"Write a cleaned copy to {target.name} (the original is only read) and open it?",
    )
    if answer != QMessageBox.StandardButton.Yes:
        return None
    try:
        clean_copy(folder, target)
        return Project.open(target)
    except MedviewError as error:
        QMessageBox.warning(parent, "Cleaned copy failed", str(error))
        return None
