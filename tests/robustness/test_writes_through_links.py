"""Issue 23, "Writes through links": with a symbolic link planted at an output (or at its old
predictable temp name) pointing outside, medview leaves the outside file untouched. Every
file is written to a new temp file of its own and renamed into place
(medview.core.containment.atomic_file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rb_helpers import train_config

from medview.core.containment import UnsafePathError, copy_regular_file, write_new_file
from medview.core.errors import MedviewError
from medview.core.project import Project

SECRET = "someone else's file\n"


def _victim(tmp_path: Path, name: str = "victim.txt") -> Path:
    victim = tmp_path / "outside" / name
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_text(SECRET)
    return victim


def _plant(link: Path, victim: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)


# ---------------------------------------------------------------------------- the helper
def test_write_new_file_replaces_a_file_by_rename_not_in_place(tmp_path: Path) -> None:
    target = tmp_path / "a.csv"
    target.write_text("old")
    held = target.open()
    write_new_file(target, b"new")
    assert held.read() == "old" and target.read_text() == "new"
    held.close()
    victim = _victim(tmp_path)
    _plant(tmp_path / "b.json", victim)
    with pytest.raises(UnsafePathError, match="link"):
        write_new_file(tmp_path / "b.json", b"{}")
    assert victim.read_text() == SECRET
    assert sorted(os.listdir(tmp_path)) == ["a.csv", "b.json", "outside"]  # no temp left


def test_copying_a_file_onto_itself_keeps_it(tmp_path: Path) -> None:
    """What truncated a run's weights in ``export --out runs/base`` (issue 23 item 4)."""
    target = tmp_path / "fold1.safetensors"
    target.write_bytes(b"weights" * 1000)
    assert copy_regular_file(target, target)
    assert target.read_bytes() == b"weights" * 1000


def test_run_folder_files_and_plots_never_write_through_a_link(tmp_path: Path) -> None:
    from medview.core.run_folder import RunFolder, write_json
    from training.recipe.report_plots import save_figure

    victim = _victim(tmp_path)
    run = RunFolder(tmp_path / "run")
    for name in ("metrics.json", "history.csv", "log.txt", "roc.png"):
        _plant(run.path / name, victim)
    with pytest.raises(UnsafePathError):
        write_json(run.metrics, {"a": 1})
    with pytest.raises(UnsafePathError):
        run.write_history([{"fold": 1, "epoch": 1}])
    with pytest.raises(UnsafePathError):
        run.write_log(["line"])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with pytest.raises(UnsafePathError):
        save_figure(plt.figure(), run.path / "roc", dpi=50)
    assert victim.read_text() == SECRET


# ---------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("name", ["model.json", "model.onnx"])
def test_onnx_export_never_writes_through_a_link(trained, tmp_path: Path, name: str) -> None:
    pytest.importorskip("onnxruntime")
    from training.outputs.model_export import export_model

    folder, _ = trained
    victim = _victim(tmp_path)
    out = tmp_path / "onnx"
    _plant(out / name, victim)
    with Project.open(folder) as p, pytest.raises(MedviewError, match="link"):
        export_model(p, "base", out, "onnx")
    assert victim.read_text() == SECRET
    assert sorted(os.listdir(out)) == [name]  # nothing half-written beside it


@pytest.mark.parametrize("planted", ["scores.csv.tmp", "scores.csv"])
def test_apply_csv_never_writes_through_a_link(trained, tmp_path: Path, planted: str) -> None:
    from training.outputs.apply import apply_run

    folder, images = trained
    victim = _victim(tmp_path)
    out = tmp_path / "apply" / "scores.csv"
    _plant(out.parent / planted, victim)
    with Project.open(folder) as p:
        if planted == "scores.csv":
            with pytest.raises(MedviewError, match="link"):
                apply_run(p, "base", [images], out)
        else:  # the old fixed temp name means nothing now: the CSV is written
            apply_run(p, "base", [images], out)
            assert len(out.read_text().splitlines()) == 17
    assert victim.read_text() == SECRET


def test_study_files_on_resume_never_write_through_a_link(trained, tmp_path: Path) -> None:
    from training.studies.study import run_study

    folder, _ = trained
    victims = {n: _victim(tmp_path, n) for n in ("study.csv", "stats.csv")}
    with Project.open(folder) as p:
        runs = {"cnn_small": "lk-cnn_small", "mobilenet_v2": "lk-mobilenet_v2"}
        spec = {"kind": "compare", "models": list(runs), "runs": runs, "base": {"size": 32}}
        p.create_study("lk", "compare", spec)
        p.set_study_status("lk", "interrupted")
        study_dir = p.study_dir("lk")
    for name, victim in victims.items():
        _plant(study_dir / name, victim)
    with pytest.raises(MedviewError, match="link"):
        run_study(train_config(folder), resume="lk", should_cancel=lambda: True)
    assert all(v.read_text() == SECRET for v in victims.values())


def test_tune_never_opens_a_linked_optuna_db(trained, tmp_path: Path) -> None:
    from training.studies.tune import STORAGE_NAME, run_tune

    folder, _ = trained
    victim = _victim(tmp_path, "thesis.db")
    (folder / STORAGE_NAME).unlink(missing_ok=True)  # an earlier search's own database
    _plant(folder / STORAGE_NAME, victim)
    try:
        with pytest.raises(MedviewError, match="link"):
            run_tune(train_config(folder), budget=1, study_id="lnk", should_cancel=lambda: True)
    finally:
        (folder / STORAGE_NAME).unlink()
    assert victim.read_text() == SECRET


def test_window_plot_and_metrics_exports_never_write_through_a_link(qtbot, tmp_path: Path) -> None:
    """The window's Save… buttons: pyqtgraph's exporters open the path they are given."""
    import pyqtgraph as pg

    from medview.ui.plot_export import save_plot

    victim = _victim(tmp_path)
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.plot([0.0, 0.5, 1.0], [0.0, 0.8, 1.0])
    for name in ("roc.png", "roc.svg"):
        _plant(tmp_path / "plots" / name, victim)
        with pytest.raises(UnsafePathError, match="link"):
            save_plot(widget, tmp_path / "plots" / name)
    assert victim.read_text() == SECRET
    assert save_plot(widget, tmp_path / "plots" / "fresh.png").read_bytes()[:4] == b"\x89PNG"
