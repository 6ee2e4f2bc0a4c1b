"""Issue 10, "Qt cannot start": on a Linux machine without Qt's xcb libraries `medview demo`
aborted with Qt's raw platform-plugin text. The start-up path finds the missing libraries
first (``ldd`` on the xcb plugin, probed here through a stand-in) and prints one line naming
them and the apt command, with a non-zero exit, before Qt is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from medview import cli, qt_check

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f83)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms1.so => /lib/x86_64-linux-gnu/libxcb-keysyms.so.1 (0x00007f83)
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-cursor.so.0 => not found
"""


def test_missing_libraries_are_read_from_ldd() -> None:
    assert qt_check.missing_from_ldd(LDD_OUTPUT) == [
        "libxcb-cursor.so.0",
        "libxcb-icccm.so.4",
        "libxkbcommon-x11.so.0",
    ]
    assert qt_check.package_for("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert qt_check.package_for("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert qt_check.package_for("libxcb-foo.so.3") == "libxcb-foo3"  # the Debian rule


def test_gui_start_without_xcb_libraries_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import medview.ui.app

    def qt_must_not_start(*_: object) -> int:
        raise AssertionError("Qt was started although its plugin cannot load")

    monkeypatch.setattr(medview.ui.app, "run_gui", qt_must_not_start)
    monkeypatch.setattr(
        qt_check, "missing_libraries", lambda: qt_check.missing_from_ldd(LDD_OUTPUT)
    )
    monkeypatch.setattr(qt_check.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    for argv in ([], ["demo", str(tmp_path / "demo")]):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert "libxcb-cursor.so.0" in lines[0] and "libxkbcommon-x11.so.0" in lines[0]
        assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxkbcommon-x11-0" in lines[0]


def test_the_check_runs_only_where_qt_would_use_xcb() -> None:
    probe_calls: list[int] = []

    def probe() -> list[str]:
        probe_calls.append(1)
        return ["libxcb-cursor.so.0"]

    linux = "linux"
    assert qt_check.startup_problem({"DISPLAY": ":0"}, probe, linux)
    assert qt_check.startup_problem({"QT_QPA_PLATFORM": "xcb"}, probe, linux)
    calls = len(probe_calls)
    assert (
        qt_check.startup_problem({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, probe, linux)
        is None
    )
    assert qt_check.startup_problem({"QT_QPA_PLATFORM": "wayland"}, probe, linux) is None
    assert (
        qt_check.startup_problem({"DISPLAY": ":0", "WAYLAND_DISPLAY": "w-0"}, probe, linux) is None
    )
    assert qt_check.startup_problem({"DISPLAY": ":0"}, probe, "darwin") is None
    assert qt_check.startup_problem({"DISPLAY": ":0"}, probe, "win32") is None
    assert len(probe_calls) == calls  # not even probed there
    assert qt_check.startup_problem({"DISPLAY": ":0"}, list, linux) is None  # all present


def test_the_real_probe_finds_this_machines_libraries() -> None:
    plugin = qt_check.xcb_plugin()
    if plugin is None or not __import__("shutil").which("ldd"):
        pytest.skip("no xcb plugin or no ldd here")
    assert qt_check.missing_libraries(plugin) == []  # they are installed on this machine
