"""What the status bar says about the current item, and the warnings its reader left.

Readers attach what they noticed to the image they return: ``metadata["warnings"]`` (a slice
left out, no PixelSpacing, "3 series found: showing the largest") and ``metadata["notes"]``
("4D file: showing the first volume"); the importer keeps the scan's warnings in
``item.meta["warnings"]``. The window shows the latest load's list, so the user never takes
19 slices for the 20 the project recorded.
"""

from __future__ import annotations

from medview.core.image import UM_PER_MM, Image
from medview.core.project import Item
from medview.ui.browser_model import item_warnings, shape_text


def _as_list(value: object) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v]
    return [str(value)]


def load_warnings(item: Item, image: Image) -> list[str]:
    """The reader's warnings and notes for this load, plus a shape that no longer matches the
    project's record; without duplicates, in order."""
    found: list[str] = []
    recorded = tuple(int(s) for s in item.shape[:3])
    if recorded and tuple(image.shape) != recorded:
        found.append(
            f"the project records {'×'.join(map(str, recorded))}, the files now give "
            f"{'×'.join(map(str, image.shape))}: showing what was read"
        )
    found += _as_list(image.metadata.get("warnings"))
    found += _as_list(image.metadata.get("notes") or image.metadata.get("note"))
    if not found:
        # Import-time warnings stay true of the files unless the load said otherwise.
        found = item_warnings(item)
    unique: list[str] = []
    for text in found:
        if text not in unique:
            unique.append(text)
    return unique


def status_text(item: Item, image: Image | None, warnings: list[str]) -> str:
    """ "name   3D 19×64×64   spacing 3×0.8×0.8 mm   path   ⚠ 1 warning: ..." """
    if image is not None:
        kind = image.kind.upper()
        if image.kind == "3d":
            shape = "×".join(str(s) for s in image.shape)
        else:
            shape = "×".join(str(s) for s in image.shape[1:])
        if image.is_rgb:
            shape += " RGB"
        elif image.channel_names:
            shape += f" {len(image.channel_names)} ch ({', '.join(image.channel_names)})"
        spacing_values = image.spacing
    else:
        kind, shape, spacing_values = item.kind.upper(), shape_text(item), item.spacing
    text = f"{item.name}   {kind} {shape}   spacing {spacing_text(item, spacing_values)}"
    text += f"   {item.path}"
    if warnings:
        noun = "warning" if len(warnings) == 1 else "warnings"
        text = f"⚠ {len(warnings)} {noun}: {'; '.join(warnings)}   —   {text}"
    return text


def spacing_text(item: Item, spacing: tuple[float, ...]) -> str:
    """Spacing as the field measures it: micrometres for microscopy items (a 0.000325 mm
    pixel reads as 0.325 µm), millimetres otherwise. Stored in mm either way."""
    if (item.meta or {}).get("microscopy"):
        return "×".join(f"{s * UM_PER_MM:.3g}" for s in spacing) + " µm"
    return "×".join(f"{s:.3g}" for s in spacing) + " mm"
