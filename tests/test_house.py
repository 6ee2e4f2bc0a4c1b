"""The house rules of docs/CONTRIBUTING.md, enforced from the source (AST only, no imports):
no function over 40 lines in ``training/`` and ``medview/core``, none over 60 elsewhere in
``medview/`` (``_build*`` methods in ``medview/ui`` are layout code and exempt).

Every function is within its limit since issue 11's splitting; a new one over it fails here with
its name and length: split it along its jobs.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load_house():
    """bench/house.py, the scan the figures come from (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("house", ROOT / "bench" / "house.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["house"] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


house = _load_house()
scan, LIMIT_STRICT, LIMIT_OTHER = house.scan, house.LIMIT_STRICT, house.LIMIT_OTHER
_scan = functools.cache(lambda: scan(ROOT))


def test_no_function_over_its_limit() -> None:
    long = _scan().long_functions()
    assert not long, "over the house limit (split them along their jobs):\n" + "\n".join(
        f"  {f.name}: {f.lines} lines (limit {f.limit})" for f in long
    )


def _function(name: str, lines: int, indent: str = "") -> str:
    body = "".join(f"{indent}    x = {i}\n" for i in range(lines - 1))
    return f"{indent}def {name}():\n{body}"


def test_the_scan_applies_each_limit(tmp_path: Path) -> None:
    """The limits by place: 40 in training/ and medview/core, 60 elsewhere, layout exempt."""
    files = {
        "training/a.py": _function("long", LIMIT_STRICT + 1) + _function("ok", LIMIT_STRICT),
        "medview/core/b.py": _function("long", LIMIT_STRICT + 1),
        "medview/io/c.py": _function("ok", LIMIT_OTHER) + _function("long", LIMIT_OTHER + 1),
        "medview/ui/d.py": "class W:\n"
        + _function("_build_form", 200, "    ")
        + _function("_on_click", LIMIT_OTHER + 1, "    "),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    long = {f.name for f in scan(tmp_path).long_functions()}
    assert long == {
        "training.a.long",
        "medview.core.b.long",
        "medview.io.c.long",
        "medview.ui.d.W._on_click",
    }
