"""Issue 23, "Bad input that still breaks a run": each test is named after its item and drives
the CLI (or the public function) as a user would. Each failed before the fix."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from projects import make_project
from rb_helpers import run_cli

T = ("--model", "cnn_small", "--folds", "2", "--epochs", "1", "--size", "32", "--device", "cpu")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The setup project, with a class named ``=1+2`` and an item named like a formula, after
    ``medview train P $T --run-id base``."""
    from PIL import Image as PILImage

    tmp = tmp_path_factory.mktemp("trained")
    project = make_project(tmp, 16, kind="2d", size=32, classes=("WT", "=1+2"))
    folder = project.folder
    project.close()
    extra = tmp / "extra"
    extra.mkdir()
    PILImage.fromarray(np.full((32, 32), 200, np.uint8)).save(extra / '=HYPERLINK("x").png')
    assert run_cli("import", folder, extra).returncode == 0
    assert run_cli("label", folder, '=HYPERLINK("x")', "=1+2").returncode == 0
    result = run_cli("train", folder, *T, "--run-id", "base")
    assert result.returncode == 0, result.stderr
    return folder


def _png_project(tmp_path: Path) -> Path:
    """16 labelled 32-px PNGs (WT / MUT): the issue's setup project; returns its folder."""
    project = make_project(tmp_path, 16, kind="2d", size=32)
    folder = project.folder
    project.close()
    return folder


# ---------------------------------------------------------------- 1. float TIFF with +Inf
def test_item1_inf_tiff_is_clipped_and_an_unusable_one_is_named_and_left_out(
    tmp_path: Path,
) -> None:
    import tifffile

    folder = _png_project(tmp_path)
    source = tmp_path / "tif" / "MUT"
    source.mkdir(parents=True)
    half = np.random.default_rng(0).normal(100, 20, (32, 32)).astype(np.float32)
    half[:16] = np.inf
    tifffile.imwrite(source / "half_inf.tif", half)
    tifffile.imwrite(source / "all_inf.tif", np.full((32, 32), np.inf, np.float32))
    imported = run_cli("import", folder, tmp_path / "tif", "--label-from", "folder")
    assert imported.returncode == 0, imported.stderr

    result = run_cli("train", folder, *T, "--run-id", "inf")
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "Input contains NaN" not in out
    warning = [line for line in out.splitlines() if "all_inf" in line]
    assert warning and "no finite pixel values" in warning[0], out
    assert not any("half_inf" in line for line in out.splitlines())  # clipped, trained on
    predictions = (folder / "runs" / "inf" / "predictions.csv").read_text()
    assert "half_inf" in predictions and "all_inf" not in predictions


# ---------------------------------------------------------------- 2. non-UTF-8 names in apply
def test_item2_apply_writes_non_utf8_names_escaped_and_leaves_no_tmp(
    trained: Path, tmp_path: Path
) -> None:
    from PIL import Image as PILImage

    folder = os.fsencode(tmp_path / "batch")
    os.makedirs(folder)
    PILImage.fromarray(np.zeros((32, 32), np.uint8)).save(os.path.join(folder, b"bad\xff\xfe.png"))
    PILImage.fromarray(np.ones((32, 32), np.uint8)).save(os.path.join(folder, b"good.png"))
    out = tmp_path / "out" / "x.csv"
    result = run_cli("apply", trained, "--run", "base", tmp_path / "batch", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "internal error" not in result.stderr
    data = out.read_bytes()
    assert b"bad\xff\xfe.png" in data and b"good.png" in data  # the name as the disk has it
    assert len(data.splitlines()) == 3
    assert list(out.parent.iterdir()) == [out]  # no x.csv.tmp


# ---------------------------------------------------------------- 3. CSV formula injection
def _cells(path: Path) -> list[str]:
    import csv

    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def _no_formula(cells: list[str]) -> None:
    from medview.core.csv_cells import FORMULA_START

    for cell in cells:
        if cell[:1] in FORMULA_START:  # only numbers may start so
            float(cell)


def test_item3_csv_formula_cells_are_escaped_and_read_back_exactly(
    trained: Path, tmp_path: Path
) -> None:
    from PIL import Image as PILImage

    from medview.core.project import Project
    from medview.ui.result_clicks import read_rows
    from training.engine.report import read_predictions

    batch = tmp_path / "batch"
    batch.mkdir()
    for name in ("=HYPERLINK(A1).png", "-2+3+cmd|' calc'!A0.png", "@SUM(1).png"):
        PILImage.fromarray(np.zeros((32, 32), np.uint8)).save(batch / name)
    out = tmp_path / "x.csv"
    result = run_cli("apply", trained, "--run", "base", batch, "--out", out)
    assert result.returncode == 0, result.stderr
    predictions = trained / "runs" / "base" / "predictions.csv"
    for path in (out, predictions):
        cells = _cells(path)
        _no_formula(cells)
        assert "'=1+2" in cells, path
    assert "'=HYPERLINK(A1)" in _cells(out) and "'-2+3+cmd|' calc'!A0" in _cells(out)
    assert '\'=HYPERLINK("x")' in _cells(predictions)
    # A negative number stays a number; the writer every medview CSV goes through.
    from medview.core import csv_cells

    numbers = tmp_path / "numbers.csv"
    with numbers.open("w", newline="", encoding="utf-8") as fh:
        csv_cells.writer(fh).writerow(["-0.5", -0.5, "-1e-3", "-x"])
    assert numbers.read_bytes() == b"-0.5,-0.5,-1e-3,'-x\r\n"

    # medview's own readers undo the escape: the class named =1+2 round-trips.
    classes = ["WT", "=1+2"]
    rows = read_predictions(predictions, classes)
    with Project.open(trained) as project:
        truth = {it.id: it.label for it in project.items(labelled=True)}
    assert all(classes[r.true] == truth[r.item_id] for r in rows if r.true is not None)
    assert sum(1 for r in rows if r.true == 1) >= 8
    read = read_rows(predictions)
    assert read is not None and read[0] == classes
    assert [r.true for r in read[1]] == [r.true for r in rows]


# ---------------------------------------------------------------- 4. the project as a source
def test_item4_import_of_the_project_or_a_folder_inside_it_is_refused(tmp_path: Path) -> None:
    folder = _png_project(tmp_path)
    (folder / "runs" / "old").mkdir(parents=True, exist_ok=True)
    for source in (folder, folder / "runs", folder / "runs" / "old" / ".."):
        result = run_cli("import", folder, source)
        assert result.returncode == 1, result.stdout
        assert "inside it" in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    listed = run_cli("items", folder, "--json")
    assert listed.stdout.count('"id"') == 16  # nothing added


def test_item4_a_folder_of_own_images_kept_inside_the_project_still_imports(
    tmp_path: Path,
) -> None:
    """Only the project and the folders medview manages in it (runs/, cache/) are refused: a
    lab that keeps its images in the project folder (as the bundled example does) imports."""
    import shutil

    folder = _png_project(tmp_path)
    own = folder / "my-images"
    shutil.copytree(tmp_path / "data", own / "WT")
    result = run_cli("import", folder, own, "--label-from", "folder")
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- 5. /dev/zero and a FIFO
def test_item5_labels_csv_must_be_a_small_regular_file(tmp_path: Path) -> None:
    folder = _png_project(tmp_path)
    fifo = tmp_path / "labels.fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.csv"
    with big.open("wb") as fh:
        fh.truncate(65 << 20)  # sparse: 65 MiB of zeros without using the disk
    for labels, reason in (
        ("/dev/zero", "not a regular file"),
        (fifo, "not a regular file"),
        (big, "larger than 64 MiB"),
    ):
        result = run_cli("import", folder, tmp_path / "data", "--labels-csv", labels, timeout=60)
        assert result.returncode == 1
        assert str(labels) in result.stderr and reason in result.stderr, result.stderr
        assert "MemoryError" not in result.stderr and "internal error" not in result.stderr


# ---------------------------------------------------------------- 7. catastrophic --group-pattern
def test_item7_group_pattern_with_nested_quantifiers_is_refused_quickly(tmp_path: Path) -> None:
    import time

    from medview.core.errors import MedviewError
    from medview.core.project import Project
    from medview.io.importer import import_sources

    long_dir = tmp_path / ("a" * 200)
    long_dir.mkdir()
    from PIL import Image as PILImage

    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(long_dir / ("a" * 60 + ".png"))
    with Project.create(tmp_path / "q", ["WT", "MUT"]) as project:
        start = time.perf_counter()
        with pytest.raises(MedviewError, match="nested repetition"):
            import_sources(project, [long_dir], group_pattern="(a+)+c")
        assert time.perf_counter() - start < 5
        assert not project.items()
        report = import_sources(project, [long_dir], group_pattern=r"(a{3})")  # still usable
        assert len(report.imported) == 1
        assert [item.group for item in project.items()] == ["aaa"]


# ---------------------------------------------------------------- 9. relink into /proc
def test_item9_relink_resolves_real_paths_and_refuses_pseudo_filesystems(tmp_path: Path) -> None:
    import json
    import shutil
    import subprocess
    import sys

    from rb_helpers import cli_env

    data = _png_project(tmp_path).parent / "data"  # the 16 PNGs, imported as a user would
    folder = tmp_path / "P.medview"
    assert run_cli("new", folder, "--labels", "WT,MUT").returncode == 0
    assert run_cli("import", folder, data).returncode == 0
    moved = tmp_path / "moved"
    shutil.move(data, moved)

    def relink(target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "medview", "relink", str(folder), target],
            capture_output=True,
            text=True,
            timeout=60,
            env=cli_env(),
            cwd=moved,  # /proc/self/cwd is where the images are
        )

    for target in ("/proc/self", "/sys", "/dev"):
        result = relink(target)
        assert result.returncode == 1, result.stdout
        assert "pseudo-filesystem" in result.stderr, result.stderr
    result = relink("/proc/self/cwd")  # a link to a real folder: stored as the real path
    assert result.returncode == 0 and "re-linked 16 of 16" in result.stdout, result.stdout
    items = json.loads(run_cli("items", folder, "--json").stdout)
    paths = [str(item.get("source") or item.get("path") or item) for item in items]
    assert all(str(moved.resolve()) in p and "/proc/" not in p for p in paths), paths[:2]


# ---------------------------------------------------------------- 6. crafted or damaged files
def _copy(trained: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "P.medview"
    shutil.copytree(trained, copy)
    return copy


def _one_line(result, *fragments: str) -> None:
    assert result.returncode == 1, result.stdout
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), result.stderr


def test_item6_damaged_run_config_is_one_line_naming_the_file_and_field(
    trained: Path, tmp_path: Path
) -> None:
    import json

    from PIL import Image as PILImage

    folder = _copy(trained, tmp_path)
    config = folder / "runs" / "base" / "config.json"
    good = json.loads(config.read_text())
    batch = tmp_path / "batch"
    batch.mkdir()
    PILImage.fromarray(np.zeros((32, 32), np.uint8)).save(batch / "a.png")
    no_size = {k: v for k, v in good.items() if k != "size"}
    for text, why in (
        (json.dumps(no_size), "'size'"),
        (json.dumps({**good, "size": float("nan")}), "NaN"),
        ("[" * 100_000 + "]" * 100_000, "nested too deep"),
    ):
        config.write_text(text)
        applied = run_cli("apply", folder, "--run", "base", batch, "--out", tmp_path / "x.csv")
        _one_line(applied, str(config), why)
    for text, why in (
        (json.dumps({**good, "seed": float("nan")}), "NaN"),
        ("[" * 100_000 + "]" * 100_000, "nested too deep"),
        (json.dumps({**good, "folds": 1e9}), "--folds must be a whole number"),
        (json.dumps({**good, "batch_size": 1e9}), "--batch-size must be a whole number"),
    ):
        config.write_text(text)
        _one_line(run_cli("train", folder, "--config", config), str(config), why)


def test_item6_pretrained_text_file_and_garbage_optuna_db_are_named(
    trained: Path, tmp_path: Path
) -> None:
    folder = _copy(trained, tmp_path)
    text = tmp_path / "weights.pt"
    text.write_text("hello this is text\n" * 10)  # "KeyError: 101" in the unpickler
    trained_with = run_cli("train", folder, *T, "--pretrained", text)
    assert "not a readable weight file" in trained_with.stderr, trained_with.stderr
    assert str(text) in trained_with.stderr and "internal error" not in trained_with.stderr

    (folder / "optuna.db").write_bytes(np.random.default_rng(0).bytes(4096))
    tuned = run_cli("tune", folder, *T, "--budget", "1")
    _one_line(tuned, str(folder / "optuna.db"), "not a usable Optuna database")


# ---------------------------------------------------------------- 8. run ids
def test_item8_new_run_ids_are_one_printable_line_and_odd_old_ones_stay_usable(
    trained: Path, tmp_path: Path
) -> None:
    import sqlite3

    from medview.core.project import Project

    folder = _copy(trained, tmp_path)
    for bad in ("a\nb", "tab\there", "bell\x07", " padded"):
        result = run_cli("train", folder, *T, "--run-id", bad)
        _one_line(result, "--run-id", "printable")
    assert sorted(p.name for p in (folder / "runs").iterdir()) == ["base"]

    # A run an older version let in with a newline: listed on one line, deletable.
    odd = "old\nrun"
    (folder / "runs" / "base").rename(folder / "runs" / odd)
    with sqlite3.connect(folder / "project.db") as db:
        db.execute("UPDATE runs SET id = ? WHERE id = 'base'", (odd,))
        db.execute("UPDATE predictions SET run_id = ? WHERE run_id = 'base'", (odd,))
    listed = run_cli("runs", folder)
    assert listed.returncode == 0
    assert len(listed.stdout.strip().splitlines()) == 2 and "old\\nrun" in listed.stdout
    with Project.open(folder) as project:
        assert [run.id for run in project.runs()] == [odd]
        assert project.delete_run(odd) is None
        assert project.runs() == []
    assert not (folder / "runs" / odd).exists()
