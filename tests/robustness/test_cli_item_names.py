"""Issue 10, "numeric names read as ids": ``medview label P 00042 WT`` labelled item id 42 (file
00041.png) though two items are named 00042. A name that looks like a number is a name unless
``--id`` is given; an ambiguous name is an error listing the candidates."""

from __future__ import annotations

from pathlib import Path

import pytest
from rb_helpers import run_cli

from medview.core.project import Project


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Items 1..45 named 00000..00044 (so id 42 is "00041"), then two more named "00042"
    (from two folders), so the name 00042 is ambiguous, and "00043" is unique but not id 43."""
    with Project.create(tmp_path / "p", ["WT", "MUT"]) as project:
        for index in range(45):
            name = f"{index:05d}"
            if name in ("00042", "00043"):
                name = f"x{name}"  # keep these names for the items below
            project.add_item(
                name=name,
                kind="2d",
                reader="raster",
                paths=[tmp_path / "a" / f"{name}.png"],
                shape=(1, 4, 4),
                spacing=(1, 1, 1),
                content_hash=f"h{index}",
            )
        for sub in ("b", "c"):
            project.add_item(
                name="00042",
                kind="2d",
                reader="raster",
                paths=[tmp_path / sub / "00042.png"],
                shape=(1, 4, 4),
                spacing=(1, 1, 1),
                content_hash=f"dup-{sub}",
            )
        project.add_item(
            name="00043",
            kind="2d",
            reader="raster",
            paths=[tmp_path / "d" / "00043.png"],
            shape=(1, 4, 4),
            spacing=(1, 1, 1),
            content_hash="unique",
        )
        return project.folder


def labels(folder: Path) -> dict[str, str | None]:
    with Project.open(folder) as project:
        return {f"{i.id}:{i.name}": i.label for i in project.items() if i.label}


def test_a_numeric_name_shared_by_two_items_is_an_error_listing_both(folder: Path) -> None:
    result = run_cli("label", folder, "00042", "WT")
    assert result.returncode == 1
    assert "2 items are named '00042'" in result.stderr
    assert "id 46" in result.stderr and "id 47" in result.stderr
    assert "--id" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert labels(folder) == {}  # before: item id 42 (named 00041) was labelled


def test_a_numeric_name_is_a_name_and_an_id_needs_id(folder: Path) -> None:
    assert run_cli("label", folder, "00043", "MUT").returncode == 0
    assert labels(folder) == {"48:00043": "MUT"}  # not item id 43
    result = run_cli("label", folder, "--id", "42", "WT")
    assert result.returncode == 0
    assert "[item id 42]" in result.stdout
    assert labels(folder) == {"48:00043": "MUT", "42:00041": "WT"}


def test_a_number_with_leading_zeros_is_never_taken_as_an_id(folder: Path) -> None:
    result = run_cli("label", folder, "0007", "WT")  # no item is named 0007
    assert result.returncode == 1
    assert "no item '0007'" in result.stderr and "--id" in result.stderr
    assert labels(folder) == {}
    # A plain number nobody is named still means the id (scripts rely on it).
    assert run_cli("label", folder, "7", "WT").returncode == 0
    assert labels(folder) == {"7:00006": "WT"}
