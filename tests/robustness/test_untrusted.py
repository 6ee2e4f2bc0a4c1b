"""Untrusted files: a weight file whose pickle carries code is refused (and the code never
runs); a project database from someone else cannot make medview read or write outside the
project and the images it references (crafted run ids, cache keys, a run's config.json)."""

from __future__ import annotations

import json
import pickle
import sqlite3
from pathlib import Path

import pytest
from rb_helpers import run_cli

from medview.core.errors import MedviewError, ProjectError
from medview.core.project import Project


class _Payload:
    """Unpickling this calls exec: it writes a marker file (the attack, made harmless)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",))


def _evil_weights(tmp_path: Path) -> list[tuple[Path, Path]]:
    """(weight file, marker) pairs: a raw pickle, and torch's own zip format."""
    torch = pytest.importorskip("torch")
    out = []
    raw_marker = tmp_path / "raw_ran.txt"
    raw = tmp_path / "medicalnet.pth"
    raw.write_bytes(pickle.dumps({"state_dict": {"conv1.weight": _Payload(raw_marker)}}))
    out.append((raw, raw_marker))
    zip_marker = tmp_path / "zip_ran.txt"
    zipped = tmp_path / "resnet18.pt"
    torch.save({"conv1.weight": torch.zeros(2), "extra": _Payload(zip_marker)}, zipped)
    out.append((zipped, zip_marker))
    return out


def test_a_pickle_carrying_code_is_refused_and_never_runs(tmp_path: Path) -> None:
    from training.weights import WeightsError, read_state_dict

    for path, marker in _evil_weights(tmp_path):
        with pytest.raises(WeightsError, match="refused"):
            read_state_dict(path)
        assert not marker.exists(), f"{path.name}: the pickled code ran"


def test_cli_train_with_a_code_carrying_weight_file_fails_with_one_line(tmp_path: Path) -> None:
    from test_crash import TINY_TRAIN, _training_project

    folder = _training_project(tmp_path)
    (path, marker), _ = _evil_weights(tmp_path)
    done = run_cli("train", folder, *TINY_TRAIN, "--epochs", "1", "--pretrained", path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("medview:")]
    assert len(errors) == 1 and "refused" in errors[0] and path.name in errors[0], done.stderr
    assert not marker.exists()


# ---------------------------------------------------------------------------- crafted project
def _snapshot(root: Path, skip: Path) -> dict[str, float]:
    return {
        str(p): p.stat().st_mtime
        for p in root.rglob("*")
        if skip not in p.parents and p != skip and not p.is_symlink()
    }


@pytest.fixture
def crafted(tmp_path: Path):
    """A project whose database was edited by someone else, beside a 'victim' folder that
    looks like a run (config, metrics, weights) and must never be read or written."""
    from io_helpers import write_png

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "config.json").write_text(json.dumps({"model": "cnn_small", "resolved": {}}))
    (victim / "metrics.json").write_text(json.dumps({"folds": [], "summary": {}}))
    (victim / "fold1.safetensors").write_bytes(b"not weights")
    (victim / "precious.txt").write_text("keep me")
    image = write_png(tmp_path / "data" / "a.png", (8, 8))
    with Project.create(tmp_path / "p") as p:
        good = p.add_item(
            name="a",
            kind="2d",
            reader="raster",
            paths=[image],
            shape=(1, 8, 8),
            spacing=(1, 1, 1),
            content_hash="abc",
        )
        p.create_run("ok-run", {"model": "cnn_small"}, model="cnn_small")
        p.finish_run("ok-run", "finished")
        folder = p.folder
    db = sqlite3.connect(folder / "project.db")
    escapes = ["../../victim", str(victim), "..", "runs/../../victim", "C:..\\victim"]
    for run_id in escapes:
        db.execute(
            "INSERT INTO runs(id, status, model, config, metrics, started_at) "
            "VALUES (?, 'finished', 'cnn_small', '{}', '{}', '2020')",
            (run_id,),
        )
    # Items whose content hash would name a cache file outside the project.
    for n, bad_hash in enumerate(["../../../victim/x", "/tmp/evil", "a/../../b", "..", ""]):
        db.execute(
            "INSERT INTO items(name, kind, reader, paths, rel_paths, shape, spacing, "
            "content_hash, added_at) VALUES (?, '2d', ?, ?, ?, '[1, 8, 8]', '[1, 1, 1]', ?, 'x')",
            (
                f"bad{n}",
                "npz" if n % 2 else "raster",
                json.dumps([str(image)]),
                json.dumps(["../../victim/precious.txt"]),
                bad_hash,
            ),
        )
    db.commit()
    db.close()
    return folder, victim, escapes, good


def test_crafted_run_ids_and_cache_keys_stay_inside_the_project(tmp_path: Path, crafted) -> None:
    from medview.io.readers import load_item
    from medview.io.thumbnails import thumbnail

    folder, victim, escapes, good = crafted
    outside = _snapshot(tmp_path, folder)
    with Project.open(folder) as p:
        assert [r.id for r in p.runs()] == ["ok-run"]  # the window never sees the others
        for run_id in escapes:
            with pytest.raises(ProjectError, match="invalid run id"):
                p.get_run(run_id)
            with pytest.raises(ProjectError):
                p.create_run(run_id, {})
        for item in p.items():
            if item.id == good:
                assert thumbnail(p, item).size
                continue
            if not item.content_hash:  # "" names cache/thumbs/_128.png: inside, harmless
                continue
            with pytest.raises(MedviewError):
                thumbnail(p, item)
            if item.reader == "npz":
                with pytest.raises(MedviewError):
                    load_item(p, item)
        for run_id in escapes:  # forgotten, with no folder touched
            p.delete_run(run_id)
        assert p.integrity_check() == "ok"
    assert (victim / "precious.txt").read_text() == "keep me"
    assert _snapshot(tmp_path, folder) == outside


def test_crafted_run_ids_through_the_cli(tmp_path: Path, crafted) -> None:
    pytest.importorskip("torch")
    folder, victim, escapes, _ = crafted
    out = tmp_path / "export"
    outside = _snapshot(tmp_path, folder)
    runs = json.loads(run_cli("runs", folder, "--json").stdout)
    assert [r["id"] for r in runs] == ["ok-run"]
    for command in (
        ["export", folder, "--run", "../../victim", "--out", out],
        ["predict", folder, "--run", "../../victim"],
        ["merge", folder, "../../victim"],
        ["train", folder, "--run-id", "../../victim", "--model", "cnn_small", "--folds", "2"],
    ):
        done = run_cli(*command)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert "run" in done.stderr
    assert _snapshot(tmp_path, folder) == outside
    assert not out.exists()


def test_a_foreign_config_json_cannot_pick_the_project(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from training.config import ConfigError
    from training.rerun import config_with_overrides

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"project": "/somewhere/else", "run_id": "../../x", "epochs": 3}))
    cfg = config_with_overrides(config, str(tmp_path / "mine.medview"), {})
    assert cfg.project == str(tmp_path / "mine.medview") and cfg.run_id is None
    assert cfg.epochs == 3
    for bad in ("[1, 2]", "{not json", json.dumps({"epochs": 0}), json.dumps({"evil": 1})):
        config.write_text(bad)
        with pytest.raises(ConfigError):
            config_with_overrides(config, "p", {})
    with Project.create(tmp_path / "mine") as p:
        folder = p.folder
    done = run_cli("train", folder, "--config", tmp_path / "missing.json")
    assert done.returncode == 1 and "missing.json" in done.stderr and "Traceback" not in done.stderr
