"""Label sets: the classes a project's items can be given, with colours and key shortcuts."""

from __future__ import annotations

from dataclasses import dataclass

from medview.core.errors import ProjectError

# A colour-blind-safe palette (Okabe-Ito), in the order classes are added.
PALETTE = [
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
    "#999999",
]

PRESETS: dict[str, list[str]] = {
    "wt-mut": ["WT", "MUT"],
    "benign-malignant-normal": ["benign", "malignant", "normal"],
    "tumour": ["no tumour", "tumour"],
    "normal-abnormal": ["normal", "abnormal"],
}

MAX_CLASSES = 9  # keys 1..9


@dataclass(frozen=True)
class LabelClass:
    name: str
    color: str
    position: int  # 0-based; the keyboard shortcut is position + 1

    @property
    def shortcut(self) -> str:
        return str(self.position + 1)


def color_for(position: int) -> str:
    return PALETTE[position % len(PALETTE)]


def parse_class_names(text: str) -> list[str]:
    """Parse ``--labels``: a preset name or a comma-separated list of class names."""
    text = text.strip()
    if text in PRESETS:
        return list(PRESETS[text])
    names = [part.strip() for part in text.split(",") if part.strip()]
    validate_class_names(names)
    return names


def validate_class_names(names: list[str]) -> None:
    if len(names) < 2:
        raise ProjectError("a label set needs at least two classes")
    if len(names) > MAX_CLASSES:
        raise ProjectError(f"at most {MAX_CLASSES} classes (keys 1-9), got {len(names)}")
    lowered = [n.lower() for n in names]
    if len(set(lowered)) != len(lowered):
        raise ProjectError(f"class names must be unique: {', '.join(names)}")
    for name in names:
        validate_class_name(name)


def validate_class_name(name: str) -> None:
    if not name or not name.strip():
        raise ProjectError("a class name cannot be empty")
    if len(name) > 64:
        raise ProjectError(f"class name too long (64 characters at most): {name[:20]}...")
    if "," in name or "\n" in name:
        raise ProjectError(f"class name cannot contain commas or line breaks: {name!r}")
