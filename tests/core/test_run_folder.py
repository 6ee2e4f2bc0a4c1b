"""RunFolder: the run folder's names and its torch-free readers/writers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from medview.core.project import Project
from medview.core.run_folder import RunFolder


def test_names_and_round_trips(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "runs" / "r1")
    folder.path.mkdir(parents=True)
    assert folder.run_id == "r1"
    assert [p.name for p in (folder.config, folder.metrics, folder.history)] == [
        "config.json",
        "metrics.json",
        "history.csv",
    ]
    assert folder.predictions.name == "predictions.csv" and folder.log.name == "log.txt"
    assert folder.weights(3).name == "fold3.safetensors"
    assert "roc.png" in folder.report_files() and "loss.svg" in folder.report_files()

    import numpy as np

    folder.write_metrics({"folds": [{"fold": 1, "roc_auc": np.float32(0.5)}]})
    assert folder.read_metrics() == {"folds": [{"fold": 1, "roc_auc": 0.5}]}
    assert not list(folder.path.glob("*.tmp"))  # written atomically
    folder.write_config({"model": "cnn_small"})
    assert folder.read_config() == {"model": "cnn_small"}

    rows = [
        {"fold": 1, "epoch": 1, "train_loss": 0.7, "val_loss": 0.8, "val_auc": None, "lr": 1e-3},
        {"fold": 1, "epoch": 2, "train_loss": 0.5, "val_loss": 0.6, "val_auc": 0.9, "x": "y"},
    ]
    folder.write_history(rows)
    back = folder.read_history()
    assert [(r["fold"], r["epoch"], r["val_auc"]) for r in back] == [(1, 1, None), (1, 2, 0.9)]
    assert "x" not in back[1] and back[0]["lr"] == 1e-3

    # A column this version does not know, and not numeric, is kept as text.
    folder.history.write_text("fold,epoch,train_loss,note\n1,1,0.5,warm-up\n", encoding="utf-8")
    assert folder.read_history() == [{"fold": 1, "epoch": 1, "train_loss": 0.5, "note": "warm-up"}]

    folder.write_log(["a", "b"])
    assert folder.log.read_text(encoding="utf-8") == "a\nb\n"


def test_missing_or_damaged_files_read_as_nothing(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "gone")
    assert folder.read_metrics() is None and folder.read_config() is None
    assert folder.read_history() == [] and folder.weight_folds() == []
    folder.path.mkdir()
    folder.metrics.write_text("{ not json", encoding="utf-8")
    folder.config.write_text(json.dumps([1, 2]), encoding="utf-8")  # not an object
    assert folder.read_metrics() is None and folder.read_config() is None


def test_weight_folds_in_order(tmp_path: Path) -> None:
    project = Project.create(tmp_path / "p", ["a", "b"])
    folder = RunFolder.of(project, "r")
    folder.path.mkdir(parents=True)
    for name in ("fold10.safetensors", "fold2.safetensors", "fold1.safetensors.tmp", "x.txt"):
        (folder.path / name).write_bytes(b"")
    assert folder.path == project.runs_dir / "r"
    assert folder.weight_folds() == [2, 10]
    project.close()


def test_reading_a_run_needs_neither_torch_nor_qt() -> None:
    code = (
        "import sys, medview.core.run_folder\n"
        "print(sorted(m for m in ('torch', 'PySide6', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_folds_csv_is_written_with_metrics(tmp_path: Path) -> None:
    """One row per fold, then mean and std (the summary's), then test; absent values empty,
    so a multiclass run without specificity still reads as a table."""
    import csv

    folder = RunFolder(tmp_path / "r")
    folder.path.mkdir()
    folder.write_metrics(
        {
            "folds": [
                {"fold": 1, "n_train": 8, "n_val": 4, "accuracy": 0.75, "f1": 0.5,
                 "roc": {"fpr": [0, 1]}},
                {"fold": 2, "n_train": 8, "n_val": 4, "accuracy": 1.0, "f1": 1.0},
            ],
            "summary": {"accuracy": {"mean": 0.875, "std": 0.1767766952966369, "n": 2}},
            "test": {"n": 3, "accuracy": 2 / 3},
        }
    )  # fmt: skip
    with folder.folds.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["fold"] for r in rows] == ["1", "2", "mean", "std", "test"]
    assert rows[0]["accuracy"] == "0.75" and rows[0]["specificity"] == ""
    assert rows[3]["accuracy"] == "0.1767766952966369"
    assert rows[4]["n_val"] == "3" and float(rows[4]["accuracy"]) == 2 / 3
    assert "folds.csv" in folder.report_files()  # an export copies it
