"""docs/DESIGN.md's module map lists every module of medview/ and training/, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "DESIGN.md"
START, END = "<!-- module-map:start -->", "<!-- module-map:end -->"


def mapped_modules(text: str) -> list[str]:
    """The first word of each line between the map's markers (a fenced block)."""
    assert START in text and END in text, f"{DESIGN}: the module map's markers are missing"
    block = text.split(START, 1)[1].split(END, 1)[0]
    return [m.group(1) for line in block.splitlines() if (m := re.match(r"(\S+\.py)\s", line))]


def tree_modules() -> list[str]:
    found = []
    for package in ("medview", "training"):
        for path in (ROOT / package).rglob("*.py"):
            if "__pycache__" not in path.parts:
                found.append(path.relative_to(ROOT).as_posix())
    return sorted(found)


def test_every_module_is_in_the_design_map() -> None:
    listed = mapped_modules(DESIGN.read_text(encoding="utf-8"))
    missing = [m for m in tree_modules() if m not in listed]
    assert not missing, (
        "docs/DESIGN.md's module map (section 8, between the module-map markers) lacks "
        f"{len(missing)} module(s). Add these lines:\n"
        + "\n".join(
            f"  {m:<38} <what it is for, in a few words>    ({_after(m, listed + missing)})"
            for m in missing
        )
    )


def test_the_design_map_lists_no_module_that_is_gone() -> None:
    present = set(tree_modules())
    stale = [m for m in mapped_modules(DESIGN.read_text(encoding="utf-8")) if m not in present]
    assert not stale, "docs/DESIGN.md's module map lists modules that no longer exist; " + (
        "remove the lines: " + ", ".join(stale)
    )


def test_the_map_is_in_path_order_without_duplicates() -> None:
    listed = mapped_modules(DESIGN.read_text(encoding="utf-8"))
    assert len(listed) == len(set(listed)), "duplicate lines in docs/DESIGN.md's module map"
    assert listed == sorted(listed, key=_order), (
        "keep docs/DESIGN.md's module map in path order (first out of place: "
        + next(a for a, b in zip(listed, sorted(listed, key=_order), strict=True) if a != b)
        + ")"
    )


def _order(module: str) -> tuple[str, ...]:
    """A package's own modules first, then its sub-packages' (how the map reads top-down)."""
    parts = module.split("/")
    return (*parts[:-1], "\0" + parts[-1])


def _after(module: str, listed: list[str]) -> str:
    before = [m for m in listed if _order(m) < _order(module)]
    return f"after the line of {max(before, key=_order)}" if before else "at the top"
