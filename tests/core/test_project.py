"""The project store: labels are never lost, the schema is versioned, runs are tracked."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from medview.core import schema
from medview.core.errors import ProjectError
from medview.core.project import Project


def add(project: Project, name: str, label: str | None = None, **kw) -> int:
    defaults = dict(
        kind="3d",
        reader="nifti",
        paths=[f"/data/{name}.nii.gz"],
        shape=(4, 5, 6),
        spacing=(2.0, 1.0, 1.0),
        content_hash=f"hash-{name}",
    )
    defaults.update(kw)
    return project.add_item(name=name, label=label, **defaults)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    with Project.create(tmp_path / "study", ["WT", "MUT"]) as p:
        yield p


def test_create_makes_the_folder_layout_and_durable_settings(tmp_path: Path) -> None:
    with Project.create(tmp_path / "study", ["WT", "MUT"]) as p:
        assert p.folder == tmp_path / "study.medview"
        assert (p.folder / "runs").is_dir() and (p.folder / "cache").is_dir()
        assert p.journal_mode == "wal"
        assert p._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert p._db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(tmp_path / "study.medview")


def test_open_refuses_a_folder_that_is_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="not a medview project"):
        Project.open(tmp_path)


def test_labels_survive_closing_and_reopening(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p", ["WT", "MUT"]) as p:
        a, b = add(p, "a"), add(p, "b", label="WT")
        assert p.set_label(a, "MUT") is None
        assert p.set_label(b, "MUT") == "WT"
    with Project.open(tmp_path / "p") as p:
        assert p.get_item(a).label == "MUT"
        assert p.get_item(b).label == "MUT"
        assert [h[0] for h in p.label_history(b)] == ["WT", "MUT"]
        assert p.label_counts() == {"WT": 0, "MUT": 2, None: 0}


def test_clearing_a_label_and_unknown_classes(project: Project) -> None:
    item = add(project, "a", label="WT")
    assert project.set_label(item, None) == "WT"
    assert project.get_item(item).label is None
    with pytest.raises(ProjectError, match="unknown class 'XYZ'"):
        project.set_label(item, "XYZ")
    with pytest.raises(ProjectError, match="no item with id 999"):
        project.set_label(999, "WT")


def test_set_labels_is_all_or_nothing(project: Project) -> None:
    a = add(project, "a")
    with pytest.raises(ProjectError):
        project.set_labels({a: "MUT", 12345: "WT"})
    assert project.get_item(a).label is None


def test_class_editing(project: Project) -> None:
    item = add(project, "a", label="MUT")
    project.add_class("HET")
    assert [c.shortcut for c in project.classes()] == ["1", "2", "3"]
    project.rename_class("MUT", "mutant")
    assert project.get_item(item).label == "mutant"
    project.recolor_class("WT", "#123456")
    assert project.classes()[0].color == "#123456"
    with pytest.raises(ProjectError, match="label of 1 item"):
        project.remove_class("mutant")
    assert project.remove_class("mutant", force=True) == 1
    assert project.get_item(item).label is None
    assert [c.name for c in project.classes()] == ["WT", "HET"]
    assert [c.position for c in project.classes()] == [0, 1]
    with pytest.raises(ProjectError, match="at least two"):
        project.remove_class("HET")
    with pytest.raises(ProjectError, match="unique"):
        project.add_class("wt")


def test_items_filters_splits_groups_and_lookup(project: Project) -> None:
    a = add(project, "a", label="WT", split="train", group="mouse1")
    b = add(project, "b", kind="2d", shape=(1, 8, 8))
    assert [i.id for i in project.items(labelled=True)] == [a]
    assert [i.id for i in project.items(labelled=False)] == [b]
    assert [i.id for i in project.items(kind="2d")] == [b]
    project.set_split([b], "test")
    project.set_group([a, b], " mouse2 ")
    assert project.get_item(b).split == "test"
    assert {i.group for i in project.items()} == {"mouse2"}
    with pytest.raises(ProjectError, match="split must be"):
        project.set_split([a], "holdout")
    assert project.find_item("b").id == b
    assert project.find_item(str(a)).name == "a"
    add(project, "b")
    with pytest.raises(ProjectError, match="2 items are named"):
        project.find_item("b")
    assert project.get_item(a).to_json()["spacing"] == [2.0, 1.0, 1.0]


def test_paths_are_stored_absolute_and_relative_and_resolved_after_a_move(tmp_path: Path) -> None:
    data = tmp_path / "lab" / "data"
    data.mkdir(parents=True)
    image = data / "x.png"
    image.write_bytes(b"png")
    with Project.create(tmp_path / "lab" / "study", ["WT", "MUT"]) as p:
        item_id = add(p, "x", paths=[str(image)], kind="2d", reader="raster")
        assert p.get_item(item_id).rel_paths == [os.path.join("..", "data", "x.png")]
    moved = tmp_path / "moved"
    (tmp_path / "lab").rename(moved)
    with Project.open(moved / "study.medview") as p:
        item = p.get_item(item_id)
        assert p.resolve_paths(item) == [str(moved / "data" / "x.png")]
        assert p.missing_items() == []
        (moved / "data" / "x.png").unlink()
        assert [i.id for i in p.missing_items()] == [item_id]


def test_runs_and_predictions(project: Project) -> None:
    a, b = add(project, "a", label="WT"), add(project, "b")
    project.create_run("r1", {"model": "cnn3d_small"}, model="cnn3d_small")
    assert project.get_run("r1").status == "running"
    project.add_predictions("r1", [(a, 1, None, [0.8, 0.2], "WT"), (b, 0, None, [0.3, 0.7], "MUT")])
    project.add_predictions("r1", [(b, 0, None, [0.1, 0.9], "MUT")])  # replaces
    project.finish_run("r1", "finished", {"summary": {"roc_auc": {"mean": 0.9}}})
    run = project.get_run("r1")
    assert run.status == "finished" and run.metrics["summary"]["roc_auc"]["mean"] == 0.9
    assert len(project.predictions("r1")) == 2
    assert project.latest_predictions()[b].probabilities == [0.1, 0.9]
    with pytest.raises(ProjectError, match="invalid run id"):
        project.create_run("../escape", {})
    project.delete_run("r1")
    assert project.runs() == [] and not (project.runs_dir / "r1").exists()


def test_the_run_in_view_is_pinned_kept_and_never_a_study_run_by_itself(tmp_path: Path) -> None:
    """Issue 26: the newest run's predictions used to show, a throwaway study run's too."""
    with Project.create(tmp_path / "p") as p:
        a = add(p, "a")
        p.create_study("s1", "compare", {})
        for run_id, study in (("mine", None), ("study-x", "s1")):
            p.create_run(run_id, {"extra": {"study_id": study}} if study else {})
            (p.runs_dir / run_id / "fold1.safetensors").write_bytes(b"")
            p.add_predictions(run_id, [(a, 0, None, [0.5, 0.5], None)])
            p.finish_run(run_id, "finished")
        assert p.run_in_view() == "mine"  # no pin yet: the newest run that is not a study's
        p.add_predictions("mine", [(a, 0, None, [0.9, 0.1], "WT")])
        p.add_predictions("study-x", [(a, 0, None, [0.2, 0.8], "MUT")])  # newer
        assert p.predictions_in_view()[a].predicted == "WT"
        p.set_run_in_view("study-x")
        assert p.predictions_in_view()[a].predicted == "MUT"
        with pytest.raises(ProjectError):
            p.set_run_in_view("no-such-run")
    with Project.open(tmp_path / "p") as p:
        assert p.run_in_view() == "study-x"  # reopened: the pin holds
        p.delete_run("study-x")
        assert p.run_in_view() is None and p.predictions_in_view() == {}  # the user picks


def test_a_run_left_running_by_a_dead_process_is_marked_interrupted(tmp_path: Path) -> None:
    with Project.create(tmp_path / "p") as p:
        p.create_run("r1", {})
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        p.set_run_owner("r1", dead.pid)
    with Project.open(tmp_path / "p") as p:
        assert p.get_run("r1").status == "interrupted"


def test_a_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    Project.create(tmp_path / "p").close()
    db = sqlite3.connect(tmp_path / "p.medview" / "project.db")
    db.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(ProjectError, match="newer medview"):
        Project.open(tmp_path / "p")


def test_journal_falls_back_when_wal_is_unavailable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEDVIEW_JOURNAL", "delete")  # what a network file system forces
    with Project.create(tmp_path / "p") as p:
        assert p.journal_mode == "delete"
        add(p, "a", label="WT")
    monkeypatch.delenv("MEDVIEW_JOURNAL")
    with Project.open(tmp_path / "p") as p:
        assert p.get_item(1).label == "WT"


BURST = textwrap.dedent(
    """
    import sys
    from medview.core.project import Project
    p = Project.open(sys.argv[1])
    ids = [i.id for i in p.items()]
    n = 0
    while True:
        item = ids[n % len(ids)]
        label = ("WT", "MUT")[n % 2]
        p.set_label(item, label)
        # Acknowledge only after set_label returned: that label must survive a kill.
        print(item, label, flush=True)
        n += 1
    """
)


@pytest.mark.parametrize("trial", range(3))
def test_sigkill_during_a_burst_of_labels_loses_nothing_acknowledged(
    tmp_path: Path, trial: int
) -> None:
    with Project.create(tmp_path / "p") as p:
        for n in range(20):
            add(p, f"item{n}")
    proc = subprocess.Popen(
        [sys.executable, "-c", BURST, str(tmp_path / "p.medview")],
        stdout=subprocess.PIPE,
        text=True,
    )
    acknowledged: dict[int, str] = {}
    assert proc.stdout is not None
    # Kill at a different point of the burst in each trial.
    for _ in range(40 + 37 * trial):
        item, label = proc.stdout.readline().split()
        acknowledged[int(item)] = label
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Lines already in the pipe were acknowledged too.
    for line in proc.stdout.read().splitlines():
        item, label = line.split()
        acknowledged[int(item)] = label
    assert len(acknowledged) == 20
    with Project.open(tmp_path / "p") as p:
        assert p.integrity_check() == "ok"
        stored = {i.id: i.label for i in p.items()}
    # The last acknowledged label of each item is stored, or a later one that was committed
    # but not yet printed when the kill came (at most one write past the last ack).
    mismatched = {i: (label, stored[i]) for i, label in acknowledged.items() if stored[i] != label}
    assert len(mismatched) <= 1, mismatched


def test_cache_files_cannot_escape_the_project(project: Project) -> None:
    path = project.cache_file("npz", "ab12cd", ".npy")
    assert path.parent == project.cache_dir / "npz"
    for bad in ("../../etc/passwd", "/abs", "a/b", ""):
        with pytest.raises(ProjectError, match="unsafe cache key"):
            project.cache_file("npz", bad, ".npy")


def test_patient_ids_are_kept_only_as_salted_hashes(tmp_path: Path) -> None:
    with Project.create(tmp_path / "a") as a, Project.create(tmp_path / "b") as b:
        key = a.pseudonymise("DOE^JOHN-12345")
        assert key.startswith("pt-") and "12345" not in key
        assert a.pseudonymise("DOE^JOHN-12345") == key
        assert b.pseudonymise("DOE^JOHN-12345") != key  # unlinkable across projects
        a.set_meta("keep_patient_ids", "1")
        assert a.pseudonymise("DOE^JOHN-12345") == "DOE^JOHN-12345"
