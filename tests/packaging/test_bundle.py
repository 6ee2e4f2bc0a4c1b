"""The packaged executable: build it from a fresh clone and run its self-test (slow).

    .venv/bin/python -m pytest -m slow tests/packaging/test_bundle.py
    MEDVIEW_BUNDLE=dist/medview/medview .venv/bin/python -m pytest -m slow tests/packaging

Building takes 15-25 minutes on a 2-core machine (a clean venv with CUDA torch, then
PyInstaller copying ~5 GB), so it is not part of the default suite. With MEDVIEW_BUNDLE set the
test skips the build and checks that bundle instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("MEDVIEW_BUNDLE")
    if given:
        path = Path(given).resolve()
        if not path.is_file():
            pytest.fail(f"MEDVIEW_BUNDLE={given}: no such executable")
        return path
    if shutil.which("git") is None or shutil.which("python3.11") is None:
        pytest.skip("needs git and python3.11")
    clone = tmp_path_factory.mktemp("fresh") / "medview"
    # A clone of the committed tree: the build must not depend on uncommitted files.
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    proc = subprocess.run(
        ["bash", "packaging/build.sh"],
        cwd=clone,
        env={**os.environ, "MEDVIEW_SKIP_SELFTEST": "1"},
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return clone / "dist" / "medview" / "medview"


def _run(bundle: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return subprocess.run(
        [str(bundle), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.timeout(4200)
def test_bundle_self_test_passes(bundle: Path) -> None:
    proc = _run(bundle, "self-test")
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert "Traceback" not in report
    for name in ("imports", "device", "dicom", "training", "window"):
        assert any(
            line.startswith("OK") and f" {name} " in line for line in proc.stdout.splitlines()
        ), report
    assert "bundle" in proc.stdout.splitlines()[0]


@pytest.mark.timeout(600)
def test_bundle_cli_works_without_a_python_installation(bundle: Path, tmp_path: Path) -> None:
    assert _run(bundle, "--version").stdout.startswith("medview ")
    project = tmp_path / "p.medview"
    assert _run(bundle, "new", str(project), "--labels", "A,B").returncode == 0
    proc = _run(bundle, "items", str(project), "--json")
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr
    # The bundle carries its resources (icons, style sheet) next to the code.
    internal = bundle.parent / "_internal"
    assert (internal / "resources" / "icons" / "medview.svg").is_file()
    platforms = internal / "PySide6" / "Qt" / "plugins" / "platforms"
    assert any(p.name.startswith("libqoffscreen") for p in platforms.iterdir())
