"""Nothing outside the project, ever (issue 10): a project from someone else whose ``cache/``
or ``runs/`` holds symbolic links must not make medview delete, overwrite or export files
elsewhere. Each test sets up the attack as the red team did and checks the victim's files."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from medview.core.project import Project


def _victim(root: Path) -> Path:
    """A user's folder: a big old tar, a thesis and notes (old mtimes: first to be pruned)."""
    root.mkdir(parents=True)
    (root / "backup.tar").write_bytes(b"\0" * (3 * 1024 * 1024))
    (root / "thesis.tex").write_text("chapter 1")
    (root / "notes.npy").write_bytes(b"not a cache entry")
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (1_000_000, 1_000_000))
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _png_project(tmp_path: Path, n: int = 3) -> Project:
    from io_helpers import write_png

    project = Project.create(tmp_path / "p", ["WT", "MUT"])
    for k in range(n):
        path = write_png(tmp_path / "data" / f"{k}.png", (12, 12), seed=k)
        project.add_item(
            name=path.stem,
            kind="2d",
            reader="raster",
            paths=[path],
            shape=(1, 12, 12),
            spacing=(1, 1, 1),
            content_hash=f"{k:064x}",
            label="WT" if k % 2 else "MUT",
        )
    return project


def _load_for_training(project: Project) -> None:
    from training.data import load_items
    from training.transforms import PrepSettings

    load_items(project, project.items(), PrepSettings(2, 8, 1), ["WT", "MUT"], workers=1)


# ---------------------------------------------------------------------------- cache pruning
@pytest.mark.parametrize("linked", ["cache/tensors", "cache"])
def test_training_never_prunes_or_writes_through_a_symlinked_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, linked: str
) -> None:
    pytest.importorskip("torch")
    victim = _victim(tmp_path / "home")
    before = _files(victim)
    project = _png_project(tmp_path)
    link = project.folder / linked
    shutil.rmtree(link, ignore_errors=True)
    link.symlink_to(victim, target_is_directory=True)
    monkeypatch.setenv("MEDVIEW_TENSOR_CACHE_MB", "1")  # the victim's 3 MB tar is "over budget"
    with project:
        _load_for_training(project)
    assert _files(victim) == before  # nothing deleted, nothing written there


def test_a_symlinked_cache_shard_folder_is_not_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    from training.transforms import PrepSettings

    victim = _victim(tmp_path / "home")
    before = _files(victim)
    project = _png_project(tmp_path, n=1)
    key = PrepSettings(2, 8, 1).key(project.items()[0].content_hash)
    (project.cache_dir / "tensors").mkdir(parents=True, exist_ok=True)
    (project.cache_dir / "tensors" / key[:2]).symlink_to(victim, target_is_directory=True)
    monkeypatch.setenv("MEDVIEW_TENSOR_CACHE_MB", "1")
    with project:
        _load_for_training(project)
    assert _files(victim) == before


def test_pruning_deletes_only_medview_cache_entries(tmp_path: Path) -> None:
    """A real cache folder inside the project: files not named and marked as medview's own
    entries (a user's file dropped there, a link) are never pruned."""
    pytest.importorskip("torch")
    victim = _victim(tmp_path / "home")
    before = _files(victim)
    project = _png_project(tmp_path)
    with project:
        _load_for_training(project)  # creates cache/tensors with medview's entries
        tensors = project.cache_dir / "tensors"
        entries = sorted(tensors.rglob("*.npy"))
        assert len(entries) == 3
        foreign = tensors / "my-data.npy"
        foreign.write_bytes(b"\0" * 4096)
        looks_like_one = tensors / "zz" / ("f" * 40 + ".npy")  # right name, not medview's
        looks_like_one.parent.mkdir()
        looks_like_one.write_bytes(b"\0" * 4096)
        (tensors / "ab").mkdir(exist_ok=True)
        (tensors / "ab" / ("a" * 40 + ".npy")).symlink_to(victim / "backup.tar")
        for path in [foreign, looks_like_one, *entries]:
            os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)
        from medview.core.disk_cache import prune

        prune(tensors, 1)  # a budget of 1 byte: everything medview owns may go
        assert foreign.exists() and looks_like_one.exists()
        assert not any(p.exists() for p in entries)
    assert _files(victim) == before


# ---------------------------------------------------------------------------- delete run
def _add_run_row(folder: Path, run_id: str) -> None:
    db = sqlite3.connect(folder / "project.db")
    db.execute(
        "INSERT INTO runs(id, status, model, config, metrics, started_at) "
        "VALUES (?, 'finished', 'cnn_small', '{}', '{}', '2020')",
        (run_id,),
    )
    db.commit()
    db.close()


def test_delete_run_never_removes_a_folder_behind_a_symlinked_runs(tmp_path: Path) -> None:
    victim = tmp_path / "home"
    (victim / "thesis").mkdir(parents=True)
    (victim / "thesis" / "chapter1.tex").write_text("years of work")
    with Project.create(tmp_path / "p") as p:
        folder = p.folder
    shutil.rmtree(folder / "runs")
    (folder / "runs").symlink_to(victim, target_is_directory=True)
    _add_run_row(folder, "thesis")
    with Project.open(folder) as p:
        assert [r.id for r in p.runs()] == ["thesis"]
        note = p.delete_run("thesis")
        assert note and "link" in note and "runs" in note
        assert p.runs() == []  # the row is forgotten
    assert (victim / "thesis" / "chapter1.tex").read_text() == "years of work"


def test_delete_run_never_follows_a_symlinked_run_folder(tmp_path: Path) -> None:
    victim = tmp_path / "home"
    (victim / "thesis").mkdir(parents=True)
    (victim / "thesis" / "chapter1.tex").write_text("years of work")
    with Project.create(tmp_path / "p") as p:
        p.create_run("r1", {})
        shutil.rmtree(p.runs_dir / "r1")
        (p.runs_dir / "r1").symlink_to(victim / "thesis", target_is_directory=True)
        note = p.delete_run("r1")
        assert note and "link" in note
        assert (p.runs_dir / "r1").is_symlink()  # not medview's: left for the user
    assert (victim / "thesis" / "chapter1.tex").read_text() == "years of work"


def test_delete_run_still_deletes_a_real_run_folder(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as p:
        p.create_run("r1", {})
        (p.runs_dir / "r1" / "metrics.json").write_text("{}")
        assert p.delete_run("r1") is None
        assert not (p.runs_dir / "r1").exists()


def test_the_window_delete_button_shows_why_a_folder_was_left(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from medview.ui.run_history import RunHistory

    victim = tmp_path / "home"
    (victim / "thesis").mkdir(parents=True)
    (victim / "thesis" / "chapter1.tex").write_text("years of work")
    with Project.create(tmp_path / "p") as p:
        folder = p.folder
    shutil.rmtree(folder / "runs")
    (folder / "runs").symlink_to(victim, target_is_directory=True)
    _add_run_row(folder, "thesis")
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    yes = QMessageBox.StandardButton.Yes
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: yes)  # "Delete 1 run(s)…?"
    with Project.open(folder) as p:
        history = RunHistory()
        qtbot.addWidget(history)
        history.set_project(p)
        history.select_runs(["thesis"])
        with qtbot.waitSignal(history.deleted) as deleted:
            history.delete_button.click()
        assert deleted.args == [["thesis"]]
        assert history.table.rowCount() == 0
    assert len(shown) == 1 and "link" in shown[0]
    assert (victim / "thesis" / "chapter1.tex").read_text() == "years of work"


# ---------------------------------------------------------------------------- export
def _run_with_files(project: Project, run_id: str = "r1") -> Path:
    project.create_run(run_id, {"model": "cnn_small"})
    run_dir = project.runs_dir / run_id
    (run_dir / "config.json").write_text(json.dumps({"model": "cnn_small"}))
    (run_dir / "metrics.json").write_text(json.dumps({"folds": [], "summary": {}}))
    (run_dir / "predictions.csv").write_text("item_id,fold\n1,1\n")
    return run_dir


def test_export_does_not_follow_symlinked_run_files(tmp_path: Path) -> None:
    from training.export import export_run

    shadow = tmp_path / "etc" / "shadow"
    shadow.parent.mkdir()
    shadow.write_text("root:$6$secret-hash:19000:0:99999:7:::\n")
    secret_json = tmp_path / "etc" / "secrets.json"
    secret_json.write_text(json.dumps({"api_key": "SECRET-KEY"}))
    out = tmp_path / "export"
    with Project.create(tmp_path / "p") as p:
        run_dir = _run_with_files(p)
        (run_dir / "history.csv").symlink_to(shadow)
        (run_dir / "fold1.safetensors").symlink_to(shadow)
        (run_dir / "config.json").unlink()
        (run_dir / "config.json").symlink_to(secret_json)
        written = export_run(p, "r1", out)
    names = {w.name for w in written}
    assert "predictions.csv" in names and "metrics.json" in names
    assert not {"history.csv", "fold1.safetensors", "config.json"} & names
    for path in out.rglob("*"):
        text = path.read_bytes()
        assert b"secret-hash" not in text and b"SECRET-KEY" not in text, path


def test_export_refuses_a_symlinked_run_folder(tmp_path: Path) -> None:
    from training.export import ExportError, export_run

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "predictions.csv").write_text("private\n")
    out = tmp_path / "export"
    with Project.create(tmp_path / "p") as p:
        p.create_run("r1", {})
        shutil.rmtree(p.runs_dir / "r1")
        (p.runs_dir / "r1").symlink_to(elsewhere, target_is_directory=True)
        with pytest.raises(ExportError, match="link"):
            export_run(p, "r1", out)
    assert not (out / "predictions.csv").exists()


def test_export_never_writes_through_a_symlink_in_the_output_folder(tmp_path: Path) -> None:
    from training.export import ExportError, export_run

    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    out = tmp_path / "export"
    out.mkdir()
    (out / "predictions.csv").symlink_to(precious)
    with Project.create(tmp_path / "p") as p:
        _run_with_files(p)
        with pytest.raises(ExportError, match="link"):
            export_run(p, "r1", out)
    assert precious.read_text() == "keep me"


def test_export_through_the_cli_leaves_out_linked_files(tmp_path: Path) -> None:
    from rb_helpers import run_cli

    pytest.importorskip("torch")
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$secret-hash\n")
    with Project.create(tmp_path / "p") as p:
        run_dir = _run_with_files(p)
        (run_dir / "history.csv").symlink_to(shadow)
        folder = p.folder
    out = tmp_path / "export"
    done = run_cli("export", folder, "--run", "r1", "--out", out)
    assert done.returncode == 0, done.stderr
    assert not (out / "history.csv").exists()
    assert all(b"secret-hash" not in f.read_bytes() for f in out.iterdir())


def test_npz_cache_is_not_written_through_a_symlinked_cache(tmp_path: Path) -> None:
    from medview.core.errors import MedviewError
    from medview.io.readers import write_npz_cache

    victim = _victim(tmp_path / "home")
    before = _files(victim)
    with Project.create(tmp_path / "p") as p:
        shutil.rmtree(p.cache_dir)
        p.cache_dir.symlink_to(victim, target_is_directory=True)
        with pytest.raises(MedviewError, match="link"):
            write_npz_cache(p, "a" * 64, np.zeros((4, 4), np.uint8))
    assert _files(victim) == before


def test_leftover_run_folders_are_removed_only_when_real(tmp_path: Path) -> None:
    """What a study does with a folder left by a killed run (RunStore.remove_run_folder)."""
    victim = tmp_path / "home"
    (victim / "r1").mkdir(parents=True)
    (victim / "r1" / "notes.txt").write_text("mine")
    with Project.create(tmp_path / "p") as p:
        (p.runs_dir / "real").mkdir()
        assert p.remove_run_folder("real") is None and not (p.runs_dir / "real").exists()
        shutil.rmtree(p.runs_dir)
        p.runs_dir.symlink_to(victim, target_is_directory=True)
        assert "link" in (p.remove_run_folder("r1") or "")
    assert (victim / "r1" / "notes.txt").read_text() == "mine"


def test_predict_and_merge_refuse_a_linked_run_folder(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from medview.core.errors import MedviewError
    from training.merge import merge_runs
    from training.predict import predict_run

    victim = tmp_path / "home"
    victim.mkdir()
    (victim / "config.json").write_text(json.dumps({"model": "cnn_small"}))
    before = _files(victim)
    with Project.create(tmp_path / "p") as p:
        p.create_run("r1", {})
        p.finish_run("r1", "finished")
        shutil.rmtree(p.runs_dir / "r1")
        (p.runs_dir / "r1").symlink_to(victim, target_is_directory=True)
        with pytest.raises(MedviewError, match="link"):
            predict_run(p, "r1", "all", "cpu")
        with pytest.raises(MedviewError, match="link"):
            merge_runs(p, ["r1"], "merged")
    assert _files(victim) == before
