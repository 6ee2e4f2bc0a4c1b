"""`medview compare P RUN RUN … --out DIR`: finished runs side by side without the window, as
Run history ▸ Compare selected shows them: a table (CSV) with each run's mean ± std over folds
and its test metrics, the mean ROCs overlaid, AUC and accuracy per run."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from training_helpers import write_fake_run

from medview.cli import main
from medview.core.project import Project


def test_compare_writes_the_table_and_plots(tmp_path: Path, capsys) -> None:
    project = Project.create(tmp_path / "p", ["WT", "MUT"])
    write_fake_run(project, "study7-cnn3d_small", 0.9, test=True)
    write_fake_run(project, "20260101-000000-b", 0.7)
    write_fake_run(project, "broken", 0.6, status="failed")
    folder = str(project.folder)
    project.close()
    out = tmp_path / "cmp"
    runs = ["study7-cnn3d_small", "20260101-000000-b"]
    assert main(["compare", folder, *runs, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "compared 2 runs" in printed and "study7-cnn3d_small: AUC 0.900" in printed
    with (out / "compare.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["run"] for r in rows] == ["study7-cnn3d_small", "cnn3d_small 20260101-000000-b"]
    first = rows[0]
    assert float(first["roc_auc_mean"]) == 0.9 and float(first["accuracy_std"]) == 0.035
    assert first["folds"] == "2" and float(first["test_roc_auc"]) == 0.8
    assert rows[1]["test_roc_auc"] == ""  # no test split
    for stem in ("compare_roc", "compare_metrics"):
        assert (out / f"{stem}.png").stat().st_size > 1000 and (out / f"{stem}.svg").is_file()
    # A run that did not finish is left out with its reason; the rest is still compared.
    assert main(["compare", folder, "broken", runs[0], "nope", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "left out broken: failed, not finished" in captured.err
    assert "left out nope:" in captured.err and "compared 1 runs" in captured.out
    assert main(["compare", folder, "broken", "--out", str(out)]) == 1
    assert "no finished run to compare" in capsys.readouterr().err


def test_compare_never_writes_into_the_project(tmp_path: Path, capsys) -> None:
    project = Project.create(tmp_path / "p", ["WT", "MUT"])
    write_fake_run(project, "a", 0.9)
    folder = project.folder
    project.close()
    assert main(["compare", str(folder), "a", "--out", str(folder / "runs" / "a")]) == 1
    assert "refused" in capsys.readouterr().err
    assert not (folder / "runs" / "a" / "compare.csv").exists()


@pytest.mark.parametrize("args", [["compare"], ["compare", "P", "a"]])
def test_compare_usage(args: list[str], capsys) -> None:
    assert main(args) == 2  # no runs, or no --out: bad usage
    assert "required" in capsys.readouterr().err
