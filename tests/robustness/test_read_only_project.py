"""Issue 10: "a read-only project (a colleague's share) cannot even be viewed" — it failed with
"unable to open database file". It opens read-only: the command line's read commands work,
writes are refused with a message, and the window shows a banner and disables labelling.

A read-only file system is made with a read-only bind mount in a private mount namespace
(``unshare -m``; root ignores file permissions, a mount does not), skipped where mounting is
not permitted; without root, plain permissions are used as well."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from rb_helpers import REPO, cli_env  # noqa: E402

from medview.core.project import Project  # noqa: E402


def make_project(tmp_path: Path) -> Path:
    with Project.create(tmp_path / "share" / "colleague.medview", ["WT", "MUT"]) as project:
        for index in range(3):
            project.add_item(
                name=f"case{index}",
                kind="2d",
                reader="raster",
                paths=[tmp_path / f"case{index}.png"],
                shape=(1, 4, 4),
                spacing=(1, 1, 1),
                content_hash=f"h{index}",
                label="MUT" if index == 1 else None,
            )
        return project.folder  # closed cleanly: no -wal/-shm left, as on a share


def run_on_read_only_mount(folder: Path, *commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Run each ``medview`` command with ``folder`` mounted read-only (for them only)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available")
    python = shlex.quote(sys.executable)
    lines = [
        "set -e",
        f"mount --bind {shlex.quote(str(folder))} {shlex.quote(str(folder))}",
        f"mount -o remount,bind,ro {shlex.quote(str(folder))}",
        "set +e",
    ]
    for number, command in enumerate(commands):
        args = " ".join(shlex.quote(a) for a in command)
        lines.append(
            f"{python} -m medview {args} >{folder.parent}/out{number} 2>{folder.parent}/err{number}"
            f"; echo $? >{folder.parent}/rc{number}"
        )
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", "\n".join(lines)],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=REPO,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {result.stderr.strip()[:200]}")
    out = []
    for number, command in enumerate(commands):
        rc = int((folder.parent / f"rc{number}").read_text())
        stdout = (folder.parent / f"out{number}").read_text()
        stderr = (folder.parent / f"err{number}").read_text()
        out.append(subprocess.CompletedProcess(command, rc, stdout, stderr))
    return out


def test_cli_reads_a_read_only_project_and_refuses_to_write(tmp_path: Path) -> None:
    folder = make_project(tmp_path)
    before = (folder / "project.db").read_bytes()
    info, items, label, runs = run_on_read_only_mount(
        folder,
        ["info", str(folder)],
        ["items", str(folder), "--json"],
        ["label", str(folder), "case0", "WT"],
        ["runs", str(folder)],
    )
    assert info.returncode == 0, info.stderr  # was: "unable to open database file"
    assert "items: 3" in info.stdout
    assert items.returncode == 0, items.stderr
    assert [row["label"] for row in json.loads(items.stdout)] == [None, "MUT", None]
    assert label.returncode == 1
    assert "read-only" in label.stderr and "Traceback" not in label.stderr
    assert runs.returncode == 0, runs.stderr
    assert (folder / "project.db").read_bytes() == before
    assert not (folder / "project.db-wal").exists()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions"
)
def test_a_folder_without_write_permission_opens_read_only(tmp_path: Path) -> None:
    folder = make_project(tmp_path)
    os.chmod(folder / "project.db", stat.S_IRUSR | stat.S_IRGRP)
    os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)
    try:
        with Project.open(folder) as project:
            assert project.read_only
            assert [i.label for i in project.items()] == [None, "MUT", None]
    finally:
        os.chmod(folder, stat.S_IRWXU)
        os.chmod(folder / "project.db", stat.S_IRUSR | stat.S_IWUSR)


def test_project_open_read_only_refuses_label_writes(tmp_path: Path) -> None:
    folder = make_project(tmp_path)
    with Project.open(folder, read_only=True) as project:
        assert project.read_only
        with pytest.raises(Exception, match="read-only"):
            project.set_label(1, "WT")
    with Project.open(folder) as project:
        assert not project.read_only
        assert project.get_item(1).label is None


def test_window_shows_a_banner_and_disables_labelling(
    qtbot,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PySide6.QtCore import QSettings, QStandardPaths

    from medview.core import readonly
    from medview.ui.main_window import MainWindow

    QStandardPaths.setTestModeEnabled(True)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "s"))
    folder = make_project(tmp_path)
    # The probe a read-only share answers (the mount itself is tested above, on the CLI).
    monkeypatch.setattr(readonly, "write_problem", lambda *_: "you cannot write to its folder")
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.open_project(folder)
    window.show()
    assert window.project.read_only
    assert window.readonly_banner.isVisible()
    assert "Read-only project" in window.readonly_banner.text
    assert "you cannot write to its folder" in window.readonly_banner.text
    assert "read-only" in window.windowTitle()
    assert not window.label_bar.isEnabled()
    assert window.browser.model.rowCount() == 3  # everything can be browsed
    window.browser.select_item(1)
    window.label_selected("WT")  # e.g. from the menu: refused with a message
    assert "read-only" in window.error_bar.text
    assert window.undo_stack.count() == 0
    asked: list[object] = []  # refused before the import options are even asked for
    monkeypatch.setattr(
        "medview.ui.window_import.ImportOptionsDialog.exec", lambda dialog: asked.append(dialog)
    )
    assert window.import_paths([str(tmp_path)]) is None and asked == []
    monkeypatch.undo()
    with Project.open(folder) as project:
        assert project.get_item(1).label is None
