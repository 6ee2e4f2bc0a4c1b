"""`medview self-test` from the source tree, and the packaging files' well-formedness.

The real self-test runs in a subprocess, as a user would run it: the spawned training worker
and the offscreen window must not depend on anything pytest set up in this process.
"""

from __future__ import annotations

import ast
import configparser
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medview import selftest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
CHECK_NAMES = [name for name, _ in selftest.CHECKS]


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DISPLAY", None)  # exercise the "no display: go offscreen" path
    env.pop("WAYLAND_DISPLAY", None)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


@pytest.mark.timeout(300)
def test_self_test_from_the_source_tree_passes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "medview", "self-test"],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=280,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert "Traceback" not in report
    lines = proc.stdout.splitlines()
    for name in CHECK_NAMES:
        assert any(line.startswith("OK") and f" {name} " in line for line in lines), report
    assert "torch" in proc.stdout and ("CPU" in proc.stdout or "CUDA" in proc.stdout)


def test_a_failing_check_prints_fail_with_a_reason_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fine(ctx: selftest.Context) -> str:
        return "all good"

    def expected_failure(ctx: selftest.Context) -> str:
        raise selftest.CheckFailed("no decoder for JPEG-LS")

    def bug(ctx: selftest.Context) -> str:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setenv("MEDVIEW_DEBUG", "")
    monkeypatch.setattr(
        selftest, "CHECKS", (("one", fine), ("two", expected_failure), ("three", bug))
    )
    out = io.StringIO()
    assert selftest.run_self_test(out) == 1
    text = out.getvalue()
    assert "OK   one       all good" in text
    assert "FAIL two       no decoder for JPEG-LS" in text
    assert "FAIL three     ZeroDivisionError: division by zero" in text
    assert "Traceback" not in text
    assert "FAILED: 2 of 3 checks (two, three)" in text


def test_all_checks_passing_exits_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selftest, "CHECKS", (("one", lambda ctx: "fine"),))
    out = io.StringIO()
    assert selftest.run_self_test(out) == 0
    assert "all 1 checks OK" in out.getvalue()


def test_the_checks_share_a_temporary_folder_that_is_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Path] = []

    def remember(ctx: selftest.Context) -> str:
        assert ctx.workdir.is_dir()
        seen.append(ctx.workdir)
        return "ok"

    monkeypatch.setattr(selftest, "CHECKS", (("a", remember), ("b", remember)))
    assert selftest.run_self_test(io.StringIO()) == 0
    assert len(set(seen)) == 1 and not seen[0].exists()


def test_dicom_check_decodes_compressed_files_in_process(tmp_path: Path) -> None:
    # The same check the bundle runs; fast enough to run here directly.
    detail = selftest.check_dicom(selftest.Context(workdir=tmp_path))
    assert "in-memory RLE" in detail
    assert "JPEG-LS via" in detail
    assert "JPEG 2000 series decoded by gdcm on threads" in detail


def test_dicom_check_fails_when_imagecodecs_is_missing_from_the_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # What a frozen build that left out imagecodecs' binary wheel looks like to medview.io.
    from medview.io import dicom_codecs

    monkeypatch.setitem(dicom_codecs._available, "imagecodecs", False)
    with pytest.raises(
        selftest.CheckFailed, match="imagecodecs, medview's fast decoder for the JPEG family"
    ):
        selftest.check_dicom(selftest.Context(workdir=tmp_path))


@pytest.mark.timeout(120)
def test_window_check_survives_qt_aborting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A DISPLAY with no X server behind it: Qt's xcb plugin aborts the process. The window
    # runs in a spawned child, so the self-test reports FAIL instead of dying with it.
    monkeypatch.setenv("DISPLAY", ":87")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(selftest.CheckFailed, match="window process died"):
        selftest.check_window(selftest.Context(workdir=tmp_path))


def test_the_spec_is_valid_python_and_collects_what_the_bundle_needs() -> None:
    text = (PACKAGING / "medview.spec").read_text(encoding="utf-8")
    ast.parse(text)
    for needed in (
        'collect_submodules("monai"',
        "copy_metadata(dist)",
        '"pylibjpeg-libjpeg"',
        '"pylibjpeg-openjpeg"',
        '"pylibjpeg-rle"',
        '"resources"',
        'medview" / "__main__.py',
    ):
        assert needed in text, needed


def test_build_script_is_valid_bash() -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    proc = subprocess.run([bash, "-n", str(PACKAGING / "build.sh")], capture_output=True)
    assert proc.returncode == 0, proc.stderr


def test_desktop_entry_has_the_required_keys_and_an_existing_icon() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign] # keys are case-sensitive
    parser.read(PACKAGING / "medview.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "medview"
    assert "@BUNDLE@/medview" in entry["Exec"] and entry["Exec"].endswith("%f")
    assert entry["Terminal"] == "false"
    assert (ROOT / "resources" / "icons" / f"{entry['Icon']}.svg").is_file()
    assert entry["Categories"].endswith(";")


def test_windows_and_macos_packaging_files_match_the_spec() -> None:
    import plistlib

    entitlements = plistlib.loads((PACKAGING / "entitlements.plist").read_bytes())
    assert entitlements["com.apple.security.cs.disable-library-validation"] is True
    iss = (PACKAGING / "medview.iss").read_text(encoding="utf-8")
    spec = (PACKAGING / "medview.spec").read_text(encoding="utf-8")
    # The installer's shortcuts start the windowed launcher that the spec builds on Windows.
    assert "medview-gui.exe" in iss and 'name="medview-gui"' in spec
    assert r"..\dist\medview\*" in iss


def test_desktop_entry_validates(tmp_path: Path) -> None:
    validate = shutil.which("desktop-file-validate")
    if validate is None:
        pytest.skip("desktop-file-validate not installed (Debian: desktop-file-utils)")
    text = (PACKAGING / "medview.desktop").read_text(encoding="utf-8")
    entry = tmp_path / "medview.desktop"
    entry.write_text(text.replace("@BUNDLE@", "/opt/medview"), encoding="utf-8")
    proc = subprocess.run([validate, str(entry)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_formats_check_opens_each_writable_microscope_format(tmp_path: Path) -> None:
    pytest.importorskip("bioio")
    pytest.importorskip("pylibCZIrw")
    detail = selftest.check_formats(selftest.Context(workdir=tmp_path))
    for label in ("OME-TIFF (2 scenes)", "OME-Zarr", "CZI (2 scenes)", "Analyze"):
        assert label in detail
