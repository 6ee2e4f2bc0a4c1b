"""Leakage evidence in how the files were stored: a label that the file format, the image
size, the folder or the file name gives away.

When every item of one class is a PNG and every item of the other a JPEG, or each class was
scanned at its own size, or comes from its own folder (another site, another scanner), a model
can separate the classes by the source instead of the biology, and a perfect AUC is then no
finding. medview warns only on such specific evidence, naming it, never on a high AUC alone
(a separable example is separable by design). A folder named after its class (the usual
"one folder per class" import) is how the labels were given, not evidence, and is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from medview.core.item import Item

MIN_PER_CLASS = 3  # fewer items of a class separate by chance


def _suffix(item: Item) -> str | None:
    if item.reader == "dicom":
        return "DICOM"
    name = Path(item.path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else (Path(name).suffix or None)


def _size(item: Item) -> str | None:
    shape = [int(s) for s in item.shape[:3] if int(s) > 1]
    return "×".join(str(s) for s in shape) or None


def _folder(item: Item) -> str | None:
    """The item's folder, unless it is named after the item's own class (the import layout)."""
    folder = Path(item.path).parent.name
    if not folder or (item.label or "").lower() in folder.lower():
        return None
    return folder + "/"


def _tokens(text: str) -> set[str]:
    return {t.lower() for t in re.split(r"[^0-9A-Za-z]+", text) if t}


EVIDENCE: tuple[tuple[str, Callable[[Item], str | None]], ...] = (
    ("file format", _suffix),
    ("image size", _size),
    ("folder", _folder),
)


def warnings(items: Sequence[Item], classes: Sequence[str]) -> list[str]:
    """One sentence per piece of evidence, each starting "possible leakage:"."""
    by_class = {c: [it for it in items if it.label == c] for c in classes}
    by_class = {c: its for c, its in by_class.items() if its}
    if len(by_class) < 2 or min(len(its) for its in by_class.values()) < MIN_PER_CLASS:
        return []
    out = []
    for what, key in EVIDENCE:
        values = {c: {key(it) for it in its} for c, its in by_class.items()}
        if any(None in v for v in values.values()) or not _disjoint(values):
            continue
        if sum(len(v) for v in values.values()) * 2 > sum(len(i) for i in by_class.values()):
            continue  # nearly every item its own value (sizes of photos): chance, not a source
        shown = "; ".join(
            f"{c}: {', '.join(sorted(str(x) for x in v)[:3])}" for c, v in values.items()
        )
        out.append(
            f"possible leakage: the {what} gives the label away ({shown}); a model can learn "
            f"the {what} instead of the biology: check that both classes come from the same "
            "sources"
        )
    named = _named_by_class(by_class)
    if named:
        out.append(
            f"possible leakage: the file name gives the label away (every file's name has its "
            f"class, e.g. {named}): check that the images do not carry it too (burnt-in text) "
            "and that each class was not collected on its own"
        )
    return out


def _disjoint(values: dict[str, set[str | None]]) -> bool:
    seen: set[str | None] = set()
    for v in values.values():
        if seen & v:
            return False
        seen |= v
    return True


def _named_by_class(by_class: dict[str, list[Item]]) -> str | None:
    """An example file name when every item's name contains its own class as a word."""
    for c, its in by_class.items():
        if not all(c.lower() in _tokens(Path(it.path).name) for it in its):
            return None
    first = next(iter(by_class.values()))[0]
    return f"'{Path(first.path).name}'"
