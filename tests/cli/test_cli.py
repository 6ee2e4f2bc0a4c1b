"""The command-line contract of docs/DESIGN.md section 3: commands, JSON, exit status, light
start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medview.cli import main
from medview.core.project import Project


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medview", *args], capture_output=True, text=True, timeout=120
    )


def test_help_imports_neither_torch_nor_qt() -> None:
    code = (
        "import sys\n"
        "from medview.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'PySide6', 'pyqtgraph', 'monai') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_help_exits_zero_and_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("new", "import", "items", "label", "demo"):
        assert command in result.stdout


def test_bad_usage_exits_2(capsys) -> None:
    assert main(["new"]) == 2  # missing PROJECT
    assert main(["items", "a", "b", "c"]) == 2
    assert main(["frobnicate", "x"]) == 2


def test_new_label_items_json(tmp_path: Path, capsys) -> None:
    project_path = tmp_path / "mice"
    assert main(["new", str(project_path), "--labels", "benign-malignant-normal"]) == 0
    with Project.open(project_path) as project:
        assert project.class_names() == ["benign", "malignant", "normal"]
        item_id = project.add_item(
            name="case1",
            kind="3d",
            reader="nifti",
            paths=[str(tmp_path / "case1.nii.gz")],
            shape=(10, 20, 30),
            spacing=(3.0, 0.5, 0.5),
            content_hash="abc",
            group="patient-7",
        )
    capsys.readouterr()
    assert main(["label", str(project_path), "case1", "malignant"]) == 0
    assert "case1: (none) -> malignant" in capsys.readouterr().out
    assert main(["items", str(project_path) + ".medview", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "id": item_id,
            "name": "case1",
            "kind": "3d",
            "shape": [10, 20, 30],
            "spacing": [3.0, 0.5, 0.5],
            "label": "malignant",
            "split": None,
            "group": "patient-7",
            "source": str(tmp_path / "case1.nii.gz"),
            "prediction": None,
            "probability": None,
        }
    ]
    assert main(["label", str(project_path), str(item_id), "--clear"]) == 0
    with Project.open(project_path) as project:
        assert project.get_item(item_id).label is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["items", "{tmp}/nothing"], "not a medview project"),
        (["label", "{tmp}/p", "99", "WT"], "no item '99'"),
        (["new", "{tmp}/q", "--labels", "onlyone"], "at least two classes"),
    ],
)
def test_failures_exit_1_with_one_line_and_no_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    Project.create(tmp_path / "p").close()
    result = run_cli(*[a.format(tmp=tmp_path) for a in args])
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_label_needs_a_class_or_clear(tmp_path: Path) -> None:
    Project.create(tmp_path / "p").close()
    result = run_cli("label", str(tmp_path / "p"), "1")
    assert result.returncode == 2
    assert "give a CLASS or --clear" in result.stderr
