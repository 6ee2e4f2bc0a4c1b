"""`medview study` / `medview tune` usage: listing, refusals with one-line reasons."""

from __future__ import annotations

from pathlib import Path

from medview.cli import main
from medview.core.project import Project


def test_study_and_tune_usage(tmp_path: Path, capsys) -> None:
    Project.create(tmp_path / "p").close()
    project = str(tmp_path / "p.medview")
    assert main(["study", project, "--list"]) == 0
    assert "no studies" in capsys.readouterr().out
    assert main(["study", project, "--models", "cnn_small"]) == 1
    assert "at least two models" in capsys.readouterr().err
    assert main(["study", project]) == 1
    assert "--models" in capsys.readouterr().err
    assert main(["study", project, "--models", "cnn_small,resnet18", "--fold", "1"]) == 1
    assert "--fold" in capsys.readouterr().err
    assert main(["tune", project, "--budget", "0", "--model", "cnn_small"]) == 1
    assert "--budget" in capsys.readouterr().err
    assert main(["study", project, "--resume", "nope"]) == 1
    assert "no study" in capsys.readouterr().err
    with Project.open(project) as p:
        p.create_study("s1", "compare", {"models": ["cnn_small", "resnet18"]})
    assert main(["tune", project, "--resume", "s1"]) == 1
    assert "resume it with 'study'" in capsys.readouterr().err
    assert main(["tune", project, "--list"]) == 0
    assert "s1" in capsys.readouterr().out
