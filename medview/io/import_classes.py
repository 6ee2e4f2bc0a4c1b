"""The project's classes as an import meets them: matched case-insensitively, added on demand
(at most the 9 a project holds), and the reason a name was refused remembered for the report."""

from __future__ import annotations

from typing import Any

from medview.core.errors import DiskFullError, MedviewError
from medview.core.labels import MAX_CLASSES, validate_class_name
from medview.io.import_report import ImportReport


class ImportClasses:
    """The project's classes, matched case-insensitively, added on demand (at most 9)."""

    def __init__(self, project: Any, report: ImportReport) -> None:
        self.project = project
        self.report = report
        self.names = list(project.class_names())
        self.refused: dict[str, str] = {}

    def resolve(self, name: str | None) -> str | None:
        if name is None:
            return None
        name = name.strip()
        for existing in self.names:
            if existing.lower() == name.lower():
                return existing
        if name in self.refused:
            return None
        if len(self.names) >= MAX_CLASSES:
            self.refused[name] = f"a project holds at most {MAX_CLASSES} classes"
            return None
        try:
            validate_class_name(name)
            self.project.add_class(name)
        except DiskFullError:
            raise
        except MedviewError as exc:
            self.refused[name] = str(exc)
            return None
        self.names.append(name)
        self.report.added_classes.append(name)
        return name
