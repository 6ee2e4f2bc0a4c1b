"""The layer rules of DESIGN.md section 1, checked on the source tree."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT = ("PySide6", "pyqtgraph", "superqt", "shiboken6")
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


def test_qt_only_in_the_ui_package() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in python_files("medview")
        if "ui" not in p.relative_to(ROOT / "medview").parts[:1]
        # Lazy imports count too: only the GUI start-up path in cli.py may name Qt.
        and p.name != "cli.py"
        and roots(all_imports(p)) & set(QT)
    ]
    assert offenders == []


def test_no_torch_at_module_level_inside_medview() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in python_files("medview")
        if roots(top_level_imports(p)) & set(TORCH)
    ]
    assert offenders == []


def test_training_never_imports_the_gui() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in python_files("training")
        if roots(all_imports(p)) & set(QT)
        or any(name.startswith("medview.ui") for name in all_imports(p))
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
