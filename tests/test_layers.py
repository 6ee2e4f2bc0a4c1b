"""The layer rules of docs/DESIGN.md section 1, checked on the source tree.

The import contracts themselves are configuration (``[tool.importlinter]`` in pyproject.toml)
and are run here with ``lint-imports``, as is ``mypy`` (``[tool.mypy]``), so the plain
``pytest`` of ``.ci/run`` checks both. What import-linter cannot express stays an AST check
below: torch may be imported inside ``medview`` only lazily (inside functions), and
``medview.core`` uses nothing beyond the standard library and numpy.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TORCH = ("torch", "torchvision", "monai")


def top_level_imports(path: Path) -> set[str]:
    """Modules imported at module level (not inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        nodes = [node]
        if isinstance(node, ast.If | ast.Try):  # guarded top-level imports count too
            nodes = list(ast.walk(node))
        for sub in nodes:
            if isinstance(sub, ast.Import):
                names.update(alias.name for alias in sub.names)
            elif isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                names.add(sub.module)
    return names


def _tool(name: str) -> str:
    """A console script of this interpreter's environment (the ``test`` extra installs them)."""
    found = Path(sys.executable).with_name(name)
    if found.exists():
        return str(found)
    other = shutil.which(name)
    if other is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return other


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's packages, not an installed copy
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


def test_import_contracts_hold() -> None:
    """core < io < jobs | training < ui < cli; Qt only in ui; the engine never imports the UI,
    the jobs bridge or the CLI (pyproject.toml, [tool.importlinter])."""
    out = _run([_tool("lint-imports"), "--no-cache"])
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_mypy_passes_on_the_headless_layers() -> None:
    """medview.core, medview.io, medview.jobs and training type-check ([tool.mypy]; the cache
    under the tree keeps a warm run to seconds)."""
    out = _run([sys.executable, "-m", "mypy"])
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]


def all_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def roots(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_no_torch_at_module_level_inside_medview() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in python_files("medview")
        if roots(top_level_imports(p)) & set(TORCH)
    ]
    assert offenders == []


def test_core_is_pure_python_and_numpy() -> None:
    allowed_third_party = {"numpy"}
    stdlib = set(sys.stdlib_module_names)
    offenders = {}
    for p in python_files("medview/core"):
        extra = roots(all_imports(p)) - stdlib - allowed_third_party - {"medview"}
        if extra:
            offenders[str(p.relative_to(ROOT))] = sorted(extra)
    assert offenders == {}


def test_importing_the_readers_and_the_project_loads_neither_torch_nor_qt() -> None:
    code = (
        "import sys, medview.core.project, medview.cli\n"
        "try:\n    import medview.io.readers, medview.io.importer\nexcept ImportError:\n    pass\n"
        "print(sorted(m for m in ('torch', 'PySide6', 'monai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stderr
