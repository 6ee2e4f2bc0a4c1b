"""``medview import`` and ``medview demo`` through the command line, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from medview.core.project import Project


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medview", *args], capture_output=True, text=True, timeout=300
    )


def write_png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    PILImage.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(path)


def test_import_class_folders_reports_counts_skips_and_is_idempotent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for n in range(3):
        write_png(data / "WT" / f"wt{n}.png", n)
    for n in range(2):
        write_png(data / "MUT" / f"mut{n}.png", 10 + n)
    (data / "MUT" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (data / "WT" / "empty.nii.gz").write_bytes(b"")
    assert run_cli("new", str(tmp_path / "p")).returncode == 0

    first = run_cli("import", str(tmp_path / "p"), str(data), "--label-from", "folder")
    assert first.returncode == 0, first.stderr
    assert "imported 5 item(s)" in first.stdout
    assert "broken.png" in first.stdout and "empty.nii.gz" in first.stdout
    assert "WT: 3" in first.stdout and "MUT: 2" in first.stdout
    assert "Traceback" not in first.stdout + first.stderr

    again = run_cli("import", str(tmp_path / "p"), str(data), "--label-from", "folder")
    assert again.returncode == 0
    assert "imported 0 item(s)" in again.stdout and "duplicates" in again.stdout

    items = json.loads(run_cli("items", str(tmp_path / "p"), "--json").stdout)
    assert len(items) == 5
    assert sorted(i["label"] for i in items) == ["MUT", "MUT", "WT", "WT", "WT"]
    assert {i["kind"] for i in items} == {"2d"}


def test_import_of_only_bad_files_fails_with_reasons(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.dcm").write_bytes(np.random.default_rng(0).bytes(2000))
    Project.create(tmp_path / "p").close()
    result = run_cli("import", str(tmp_path / "p"), str(junk))
    assert result.returncode == 1
    assert "a.dcm" in result.stdout
    assert "nothing imported" in result.stderr
    missing = run_cli("import", str(tmp_path / "p"), str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "no such file or folder" in missing.stderr


def test_demo_writes_a_labelled_example_once(tmp_path: Path) -> None:
    result = run_cli("demo", str(tmp_path / "example"), "--no-gui")
    assert result.returncode == 0, result.stderr
    assert "items: 80 (40 volumes, 40 2D images)" in result.stdout
    assert "labels: WT 40, MUT 40, unlabelled 0" in result.stdout
    with Project.open(tmp_path / "example") as project:
        volumes = project.items(kind="3d")
        assert {v.shape for v in volumes} == {(24, 48, 48)}
        assert volumes[0].spacing == (2.0, 1.0, 1.0)
        assert any(i.shape[-1] == 3 for i in project.items(kind="2d"))  # RGB images
    second = run_cli("demo", str(tmp_path / "example"), "--no-gui")
    assert second.returncode == 0 and "opening the existing example project" in second.stdout
