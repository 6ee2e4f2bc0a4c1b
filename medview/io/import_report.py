"""What an import did: the items added, the files skipped and why, duplicates, label
conflicts, classes added, counts per class, and the lines ``medview import`` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from medview.io.scanning import Skipped


@dataclass
class ImportedItem:
    id: int
    name: str
    label: str | None
    path: str


class Duplicate(NamedTuple):
    path: str
    existing: str  # name of the item that already holds this content


class LabelConflict(NamedTuple):
    """Identical content filed under two different labels. Both items are kept, so the user
    can see them side by side and decide (browser: "Label conflicts")."""

    path: str
    label: str
    existing_path: str
    existing_label: str
    existing: str  # name of the item already holding this content


@dataclass
class ImportReport:
    imported: list[ImportedItem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    label_conflicts: list[LabelConflict] = field(default_factory=list)
    near_duplicates: int = 0  # imported items within a few bits of another item's pHash
    added_classes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # per class; "unlabelled" for none
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False

    def summary_lines(self) -> list[str]:
        """What ``medview import`` prints: imported, skipped with reasons, count per class."""
        lines = [f"imported {len(self.imported)} item(s)"]
        if self.duplicates:
            lines.append(
                f"duplicates (already in the project, not imported): {len(self.duplicates)}"
            )
            lines.extend(
                f"  {d.path}: same content as item {d.existing!r}" for d in self.duplicates
            )
        if self.label_conflicts:
            lines.append(
                f"label conflicts (same content, different label; both kept): "
                f"{len(self.label_conflicts)}"
            )
            lines.extend(
                f"  {c.path} ({c.label}) = {c.existing_path} ({c.existing_label})"
                for c in self.label_conflicts
            )
        if self.near_duplicates:
            lines.append(
                f"near duplicates (resized/re-encoded copies?): {self.near_duplicates} item(s); "
                "see the browser's 'Near duplicates' filter"
            )
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s):")
            lines.extend(f"  {s.path}: {s.reason}" for s in self.skipped)
        if self.added_classes:
            lines.append(f"added classes: {', '.join(self.added_classes)}")
        if self.counts:
            parts = [f"{name}: {count}" for name, count in self.counts.items()]
            lines.append("per class: " + ", ".join(parts))
        lines.extend(f"note: {n}" for n in self.notes)
        if self.cancelled:
            lines.append("cancelled: the items above were imported, the rest was not")
        return lines
