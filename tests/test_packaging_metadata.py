"""pyproject lists its packages by hand (resources/ is mapped into medview/resources), so a new
sub-package must be added there or a wheel (and the PyInstaller bundle built from it) lacks it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_python_package_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("medview", "training")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk - listed == set()
    assert config["tool"]["setuptools"]["package-dir"]["medview.resources"] == "resources"
