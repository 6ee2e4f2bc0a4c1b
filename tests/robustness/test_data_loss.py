"""Issue 23, "Data loss" 1-6: medview never deletes or overwrites what the user made.

Setup as in the issue: a project of 16 PNGs in folders A/B, one tiny run ``base`` (cnn_small,
2 folds, 1 epoch, size 32, CPU) trained once for the module. Each test names its item.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

import pytest
from rb_helpers import TRAIN_FAST, run_cli, train_config, write_pngs

from medview.core.errors import MedviewError
from medview.core.project import Project

pytest.importorskip("torch")


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


def _users_run(folder: Path, run_id: str) -> dict[str, str]:
    """A finished run of the user's named ``run_id`` (base's files copied); its digests."""
    with Project.open(folder) as p:
        base = p.get_run("base")
        p.create_run(run_id, dict(base.config), model=base.model)
        p.finish_run(run_id, "finished", dict(base.metrics))
        run_dir = p.runs_dir / run_id
    for f in (folder / "runs" / "base").iterdir():
        shutil.copy2(f, run_dir / f.name)
    return _digests(run_dir)


def _kept(folder: Path, run_id: str, digests: dict[str, str]) -> None:
    with Project.open(folder) as p:
        run = p.get_run(run_id)
        assert run.status == "finished" and run.study_id is None
    assert _digests(folder / "runs" / run_id) == digests


# ---------------------------------------------------------------------------- items 1-3
def test_tune_study_id_does_not_delete_users_run(trained) -> None:
    from training.studies.tune import run_tune

    folder, _ = trained
    digests = _users_run(folder, "hp-t000")
    with pytest.raises(MedviewError, match="hp-t000"):
        run_tune(train_config(folder), budget=1, study_id="hp")
    _kept(folder, "hp-t000", digests)


def test_study_study_id_does_not_delete_users_run_folder(trained) -> None:
    from training.studies.study import run_study

    folder, _ = trained
    digests = _users_run(folder, "exp-cnn_small")
    with pytest.raises(MedviewError, match="exp-cnn_small"):
        # should_cancel: on the old code the folder was deleted before the first run started
        run_study(
            train_config(folder),
            ["cnn_small", "mobilenet_v2"],
            study_id="exp",
            should_cancel=lambda: True,
        )
    _kept(folder, "exp-cnn_small", digests)


def test_study_resume_keeps_a_run_folder_the_study_did_not_make(trained) -> None:
    """A folder without a row under a study's run id is removed only if the study's marker
    is in it (the study's own run, killed before its row was written)."""
    from training.studies.study import run_study

    folder, _ = trained
    with Project.open(folder) as p:
        runs = {"cnn_small": "res-cnn_small", "mobilenet_v2": "res-mobilenet_v2"}
        p.create_study("res", "compare", {"kind": "compare", "models": list(runs), "runs": runs,
                                          "base": {**TRAIN_FAST, "seed": 42}})  # fmt: skip
        # mobilenet_v2's run is finished (kept), so only cnn_small's id is looked at
        p.create_run("res-mobilenet_v2", {"extra": {"study_id": "res"}}, model="mobilenet_v2")
        p.finish_run("res-mobilenet_v2", "finished", {})
        p.set_study_status("res", "interrupted")
    mine = folder / "runs" / "res-cnn_small"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's own notes")
    outcome = run_study(train_config(folder), resume="res")
    assert (mine / "notes.txt").read_text() == "the user's own notes"
    assert "res-cnn_small" in outcome.failed["cnn_small"]


def test_a_trial_or_study_run_clears_only_its_own_leftover(tmp_path: Path) -> None:
    """What tune's ``_train`` and a study's resume may remove under a run id: the same
    study's run (its row's study_id), or a folder without a row that holds the study's
    marker (killed between the folder and the row). A user's run is refused, kept."""
    from training.studies.study import clear_own_leftover

    with Project.create(tmp_path / "p") as p:
        for study in ("s", "other"):
            p.create_study(study, "compare", {})
        p.create_run("s-cnn_small", {"extra": {"study_id": "s"}})
        run_dir = p.runs_dir / "s-cnn_small"
        with p._transaction() as db:  # killed between the folder and the row
            db.execute("DELETE FROM runs WHERE id = 's-cnn_small'")
        p.create_run("s-t000", {"model": "cnn_small"})  # the user's own run
        p.create_run("s-t001", {"extra": {"study_id": "s"}})  # a dead trial of "s"
        folder = p.folder
    with pytest.raises(MedviewError, match="s-cnn_small"):
        clear_own_leftover(str(folder), "s-cnn_small", "other")
    assert run_dir.is_dir()  # not study "other"'s folder: kept
    clear_own_leftover(str(folder), "s-cnn_small", "s")
    assert not run_dir.exists()
    with pytest.raises(MedviewError, match="s-t000"):
        clear_own_leftover(str(folder), "s-t000", "s")
    assert clear_own_leftover(str(folder), "s-t001", "s") == "running"
    with Project.open(folder) as p:
        assert [r.id for r in p.runs()] == ["s-t000"]
    assert (folder / "runs" / "s-t000").is_dir()


@pytest.mark.parametrize("command", ["study", "tune"])
def test_study_id_equal_to_a_run_id_does_not_write_into_its_folder(trained, command) -> None:
    from training.studies.study import run_study
    from training.studies.tune import run_tune

    folder, _ = trained
    before = _digests(folder / "runs" / "base")
    with pytest.raises(MedviewError, match="base"):
        if command == "study":
            run_study(
                train_config(folder),
                ["cnn_small", "mobilenet_v2"],
                study_id="base",
                should_cancel=lambda: True,
            )
        else:
            run_tune(train_config(folder), budget=1, study_id="base", should_cancel=lambda: True)
    assert _digests(folder / "runs" / "base") == before
    with Project.open(folder) as p:
        assert "base" not in {s.id for s in p.studies()}


# ---------------------------------------------------------------------------- items 4-5
def test_export_into_its_own_run_folder_does_not_truncate_it(trained) -> None:
    folder, _ = trained
    before = _digests(folder / "runs" / "base")
    _users_run(folder, "other")
    other = _digests(folder / "runs" / "other")
    for out in (folder / "runs" / "base", folder / "runs" / "other", folder):
        done = run_cli("export", folder, "--run", "base", "--out", out)
        assert done.returncode != 0 and "inside the project" in done.stderr, done.stderr
        assert done.stderr.count("\n") <= 2 and "Traceback" not in done.stderr
    assert _digests(folder / "runs" / "base") == before
    assert _digests(folder / "runs" / "other") == other


def test_export_may_write_its_own_new_folder_inside_the_project(trained) -> None:
    from training.outputs.export import export_run

    folder, _ = trained
    out = folder / "exports" / "base"
    with Project.open(folder) as p:
        first = export_run(p, "base", out)
        again = export_run(p, "base", out)  # export's own folder: written again
        assert [f.name for f in first] == [f.name for f in again]
        (folder / "notes").mkdir()
        with pytest.raises(MedviewError, match="did not create"):
            export_run(p, "base", folder / "notes")


def test_export_over_a_file_outside_replaces_it_whole(trained, tmp_path: Path) -> None:
    """Outside the project an existing file is replaced by a new one (rename), so a reader
    holding the old one keeps it whole, and no temp file is left behind."""
    from training.outputs.export import export_run

    folder, _ = trained
    out = tmp_path / "shared"
    out.mkdir()
    (out / "history.csv").write_text("old")
    held = (out / "history.csv").open()  # e.g. a colleague's viewer
    with Project.open(folder) as p:
        export_run(p, "base", out)
    assert held.read() == "old"  # the old inode, untouched
    held.close()
    assert (out / "history.csv").read_bytes() == (folder / "runs/base/history.csv").read_bytes()
    assert not [f for f in out.iterdir() if f.name.endswith(".tmp")]


def test_apply_out_on_the_project_database_does_not_overwrite_it(trained) -> None:
    folder, images = trained
    db = folder / "project.db"
    before = db.read_bytes()
    done = run_cli("apply", folder, "--run", "base", images, "--out", db)
    assert done.returncode != 0 and "inside the project" in done.stderr, done.stderr
    assert db.read_bytes() == before
    with Project.open(folder) as p:
        assert sum(1 for it in p.items() if it.label) == 16


def test_apply_out_on_an_image_being_scored_does_not_overwrite_it(trained) -> None:
    from training.outputs.apply import apply_run

    folder, images = trained
    target = images / "A" / "0.png"
    before = target.read_bytes()
    with Project.open(folder) as p, pytest.raises(MedviewError, match="being read"):
        apply_run(p, "base", [images], target)
    assert target.read_bytes() == before


# ---------------------------------------------------------------------------- item 6
def test_two_concurrent_imports_of_one_folder_add_each_file_once(
    tmp_path: Path, monkeypatch
) -> None:
    """Both imports read the project's hashes before either adds anything (a barrier makes
    the race certain: on the old code 16 files gave 32 items), then both add."""
    from medview.core.item_store import ItemStore
    from medview.io.importer import import_sources

    images = write_pngs(tmp_path / "images")
    with Project.create(tmp_path / "P.medview", ["A", "B"]) as p:
        folder = p.folder
    barrier = threading.Barrier(2, timeout=60)
    read_hashes = ItemStore.known_hashes

    def known_hashes_then_wait(self):
        known = read_hashes(self)
        barrier.wait()
        return known

    monkeypatch.setattr(ItemStore, "known_hashes", known_hashes_then_wait)
    reports, errors = [], []

    def one_import() -> None:
        try:
            with Project.open(folder) as p:
                reports.append(import_sources(p, [images]))
        except Exception as exc:  # shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one_import) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with Project.open(folder) as p:
        items = p.items()
    assert len(items) == 16
    assert sorted(len(r.imported) for r in reports) == [0, 16]
    assert sorted(len(r.duplicates) for r in reports) == [0, 16]


def test_a_label_conflict_in_the_same_file_is_still_kept(tmp_path: Path) -> None:
    """The in-transaction check drops a file already there under its class; the same file
    under another class stays a label conflict, as designed."""
    with Project.create(tmp_path / "p", ["A", "B"]) as p:
        entry = {"name": "x.png", "kind": "2d", "reader": "raster", "paths": [tmp_path / "x.png"],
                 "shape": (1, 4, 4), "spacing": (1, 1, 1), "content_hash": "h1",
                 "label": "A"}  # fmt: skip
        assert p.add_new_items([entry])[0] is not None
        assert p.add_new_items([entry]) == [None]
        assert p.add_new_items([{**entry, "label": None}]) == [None]
        assert p.add_new_items([{**entry, "label": "B"}])[0] is not None
        assert len(p.items()) == 2
