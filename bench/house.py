"""The house figures of issue 11, from the source alone (AST, no imports): long functions, long
modules, import cycles between packages and modules, and ``# type: ignore`` comments.

Limits (docs/CONTRIBUTING.md): 40 lines per function in ``training/`` and ``medview/core``, 60
elsewhere in ``medview/``; widget layout code (methods named ``_build*`` in ``medview/ui``) is
exempt. A function's length is its whole span, ``def`` line to last line (docstring included,
decorators not). tests/test_house.py enforces the limits with the same scan.

    python bench/house.py [ROOT]     # one JSON line; ROOT defaults to this checkout
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("medview", "training")
STRICT = ("training", "medview.core")  # 40 lines
LIMIT_STRICT, LIMIT_OTHER = 40, 60
MODULE_LIMIT = 400


@dataclass(frozen=True)
class Function:
    name: str  # qualified: training.loop.fit, medview.ui.panel.Panel._on_click
    lines: int
    limit: int | None  # None: exempt (layout code)

    @property
    def too_long(self) -> bool:
        return self.limit is not None and self.lines > self.limit


def modules(root: Path) -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every Python module of the packages."""
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


def limit_for(module: str, qualname: str) -> int | None:
    if module.startswith("medview.ui") and qualname.split(".")[-1].startswith("_build"):
        return None
    strict = any(module == p or module.startswith(p + ".") for p in STRICT)
    return LIMIT_STRICT if strict else LIMIT_OTHER


def functions(module: str, tree: ast.Module) -> Iterator[Function]:
    """Every function and method, nested ones too (each with its own span)."""

    def walk(node: ast.AST, prefix: str) -> Iterator[Function]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                qualname = f"{prefix}{child.name}"
                span = (child.end_lineno or child.lineno) - child.lineno + 1
                yield Function(f"{module}.{qualname}", span, limit_for(module, qualname))
                yield from walk(child, f"{qualname}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def _runtime_top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run when the module is imported (``if TYPE_CHECKING:`` blocks are not)."""
    for node in body:
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _runtime_top_level(node.orelse)
        elif isinstance(node, ast.If | ast.Try):
            yield from _runtime_top_level(node.body + node.orelse)


def _imported(module: str, node: ast.AST, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        parts = parts[: len(parts) - node.level + is_package]
        base = ".".join([*parts, base] if base else parts)
    return [base] + [f"{base}.{a.name}" for a in node.names]


def imports(module: str, tree: ast.Module, is_package: bool) -> Iterator[tuple[str, bool]]:
    """(imported name, run at import time?) for every import of the two packages."""
    top = {id(node) for node in _runtime_top_level(tree.body)}
    for node in ast.walk(tree):
        for name in _imported(module, node, is_package):
            if name.split(".")[0] in PACKAGES:
                yield name, id(node) in top


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def package_of(module: str) -> str:
    """The layer a module belongs to: medview.core.project -> medview.core; medview.cli stays
    medview.cli (a top-level module of medview is its own node); training.x -> training."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "medview" else parts[0]


@dataclass
class Scan:
    functions: list[Function]
    module_lines: dict[str, int]
    module_cycles: list[list[str]]  # module-level imports only (what fails at import time)
    package_cycles: list[list[str]]  # every import, lazy ones too, between packages
    type_ignores: int

    def long_functions(self) -> list[Function]:
        return [f for f in self.functions if f.too_long]


def scan(root: Path) -> Scan:
    found: list[Function] = []
    lines: dict[str, int] = {}
    module_graph: dict[str, set[str]] = {}
    package_graph: dict[str, set[str]] = {}
    ignores = 0
    paths = dict(modules(root))
    for module, path in paths.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
        lines[module] = text.count("\n") + 1
        ignores += text.count("# type: ignore")
        found += functions(module, tree)
        for name, top_level in imports(module, tree, path.name == "__init__.py"):
            target = name if name in paths else name.rpartition(".")[0]
            if target not in paths or target == module:
                continue
            if top_level:
                module_graph.setdefault(module, set()).add(target)
            if package_of(target) != package_of(module):
                package_graph.setdefault(package_of(module), set()).add(package_of(target))
    return Scan(found, lines, cycles(module_graph), cycles(package_graph), ignores)


def figures(result: Scan) -> dict[str, object]:
    long = result.long_functions()
    return {
        "functions": len(result.functions),
        "over_limit": len(long),
        "over_limit_strict": sum(1 for f in long if f.limit == LIMIT_STRICT),
        "over_40": sum(1 for f in result.functions if f.lines > 40),
        "over_60": sum(1 for f in result.functions if f.lines > 60),
        "longest": sorted(((f.lines, f.name) for f in long), reverse=True)[:10],
        "modules_over_400": sorted(m for m, n in result.module_lines.items() if n > MODULE_LIMIT),
        "module_cycles": result.module_cycles,
        "package_cycles": result.package_cycles,
        "type_ignores": result.type_ignores,
    }


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    print(json.dumps(figures(scan(root))))


if __name__ == "__main__":
    main()
