"""Where a command may write a file the user named (``export --out``, ``apply --out``).

An output path given by hand can land on what medview reads or keeps: ``--out
P.medview/runs/base`` truncated the run's own weights and plots while copying them onto
themselves, and ``apply --out P.medview/project.db`` replaced every label with a CSV. So an
output inside the project is refused (but for a new folder that ``medview export`` makes
for itself, marked as its own), and so is an output that is one of the files being read.
Outside the project an existing plain file is replaced whole (containment.atomic_file).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from medview.core.containment import is_regular_file, write_new_file
from medview.core.errors import MedviewError

# Written into a folder that ``medview export`` created inside a project, so exporting
# into it again is recognised as writing into export's own folder.
EXPORT_MARKER = ".medview-export"
# Folders of a project that only medview writes into (runs, their studies, the cache).
MANAGED_FOLDERS = ("runs", "cache")  # what medview writes inside a project


class OutputPathError(MedviewError):
    """An output path that would overwrite the project or a file being read."""


def _real(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _inside(path: Path, folder: Path) -> Path | None:
    """``path`` relative to ``folder`` (both real paths), or None when it is not inside."""
    try:
        return path.relative_to(folder)
    except ValueError:
        return None


def check_output_file(
    project_folder: Path, out: str | os.PathLike[str], reading: Iterable[str] = ()
) -> Path:
    """``out`` as given, when a file may be written there: not inside the project, not one
    of the files in ``reading``. Raises OutputPathError naming the path and the reason."""
    real = _real(out)
    if _inside(real, _real(project_folder)) is not None:
        raise OutputPathError(
            f"{out}: refused, it is inside the project {project_folder} (it could overwrite "
            "the project's database or a run); choose a path outside the project"
        )
    refuse_if_read(out, reading)
    return Path(out)


def refuse_if_read(out: str | os.PathLike[str], reading: Iterable[str]) -> None:
    """OutputPathError when ``out`` is one of the files in ``reading``."""
    real = _real(out)
    for source in reading:
        if _real(source) == real:
            raise OutputPathError(f"{out}: refused, it is one of the files being read")


def check_export_folder(project_folder: Path, out: str | os.PathLike[str]) -> Path:
    """``out`` as given, when an export may write there: outside the project, or a folder
    inside it (not under runs/ or cache/) that is new or that an earlier export made. A new
    one inside the project is created and marked (EXPORT_MARKER)."""
    relative = _inside(_real(out), _real(project_folder))
    if relative is None:
        return Path(out)
    why = ""
    if not relative.parts or relative.parts[0] in MANAGED_FOLDERS:
        why = "medview's own folder (it would overwrite the project or a run)"
    elif os.path.lexists(out) and not is_regular_file(Path(out) / EXPORT_MARKER):
        why = "an existing folder that medview export did not create"
    if why:
        raise OutputPathError(
            f"{out}: refused, inside the project {project_folder} it is {why}; choose a new "
            "folder or one outside the project"
        )
    if not os.path.lexists(out):
        Path(out).mkdir(parents=True)
        write_new_file(Path(out) / EXPORT_MARKER, b"made by medview export\n")
    return Path(out)


def make_export_folder(project_folder: Path, out: str | os.PathLike[str]) -> Path:
    """``out`` checked (:func:`check_export_folder`) and created: the one way ``medview
    export`` (run files, ONNX/TorchScript) gets its folder. OutputPathError names the folder
    and the reason."""
    folder = check_export_folder(project_folder, out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(
            f"{out}: cannot create the export folder ({exc.strerror or exc})"
        ) from exc
    return folder
