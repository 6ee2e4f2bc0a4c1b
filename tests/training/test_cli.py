"""The command-line side: `python -m training` (progress, exit codes, SIGINT), runs, predict,
export (no patient-identifying fields), merge, and DDP with two gloo processes."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from projects import make_project

from medview.core.project import Project
from training import cli_commands as cc
from training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
ENTRY = Path(__file__).resolve().parent / "mv_entry.py"
FAST = ["--model", "cnn3d_small", "--size", "16", "--batch-size", "4", "--augment", "none"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _parse(add, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("project")
    add(parser)
    return parser.parse_args(argv)


def test_cli_module_imports_no_torch():
    code = "import sys, training.cli_commands; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert out.stdout.strip() == "False", out.stderr


def test_train_flags_parse_to_a_valid_config():
    args = _parse(
        cc.add_train_arguments,
        ["p", "--model", "resnet18", "--folds", "3", "--fold", "2", "--epochs", "7",
         "--lr", "0.01", "--device", "cpu", "--freeze-encoder", "--pretrained", "w.pth",
         "--augment", "strong", "--class-weights", "--patience", "3", "--min-epochs", "5",
         "--optimizer", "adamw", "--scheduler", "cosine", "--no-cache", "--run-id", "r1",
         "--seed", "7", "--json-progress"],
    )  # fmt: skip
    cfg = cc.config_from_args(args)
    cfg.validate()
    assert (cfg.model, cfg.folds, cfg.fold, cfg.epochs, cfg.train_layers) == (
        "resnet18",
        3,
        2,
        7,
        "head",  # --freeze-encoder is --train-layers head
    )
    assert (cfg.cache, cfg.optimizer, cfg.scheduler, cfg.run_id, cfg.seed) == (
        False,
        "adamw",
        "cosine",
        "r1",
        7,
    )
    with pytest.raises(SystemExit) as exc:
        _parse(cc.add_train_arguments, ["p", "--model", "nope"])
    assert exc.value.code == 2


def test_fine_tuning_and_sampler_flags_and_their_old_spellings():
    def parse(*flags: str):
        return cc.config_from_args(_parse(cc.add_train_arguments, ["p", *flags]))

    cfg = parse("--train-layers", "last:10", "--sampler", "undersample", "--class-weights")
    assert (cfg.train_layers, cfg.sampler, cfg.class_weights) == ("last:10", "undersample", True)
    old = parse("--freeze-encoder", "--balanced-sampler")
    assert (old.train_layers, old.sampler) == ("head", "oversample")
    assert (parse().train_layers, parse().sampler) == ("all", "none")
    with pytest.raises(SystemExit):  # argparse refuses it with the reason
        parse("--train-layers", "last:ten")
    # an older run's config.json still runs again, with the same meaning
    legacy = TrainConfig.from_dict({"freeze_encoder": True, "balanced_sampler": True})
    assert (legacy.train_layers, legacy.sampler) == ("head", "oversample")


def test_train_json_progress_runs_predict_export(tmp_path):
    project = make_project(tmp_path, 16, test=4, unlabelled=3)
    folder = project.folder
    # a DICOM-like item whose name, path and group carry a patient's identity
    data = tmp_path / "DOE^JANE_19500101"
    data.mkdir()
    src = next((tmp_path / "data").glob("v000*"))
    (data / "IM0001.nii.gz").write_bytes(src.read_bytes())
    project.add_item(
        name="DOE^JANE 1950-01-01", kind="3d", reader="nifti", paths=[data / "IM0001.nii.gz"],
        shape=(16, 16, 16), spacing=(1, 1, 1), content_hash="x1", group="PID-12345",
        meta={"PatientName": "DOE^JANE"},
    )  # fmt: skip
    project.close()
    cmd = [sys.executable, str(ENTRY), str(folder), *FAST, "--folds", "2", "--epochs", "2",
           "--json-progress", "--run-id", "r1"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events[0]["type"] == "started" and events[-1]["type"] == "finished"
    assert {"epoch", "fold_done", "log"} <= {e["type"] for e in events}

    runs = _parse(cc.add_runs_arguments, [str(folder), "--json"])
    assert cc.cmd_runs(runs) == 0

    pred = _parse(cc.add_predict_arguments, [str(folder), "--run", "r1", "--items", "all"])
    assert cc.cmd_predict(pred) == 0
    assert list((folder / "runs" / "r1").glob("predict-all-*.csv"))

    out_dir = tmp_path / "export"
    exp = _parse(cc.add_export_arguments, [str(folder), "--run", "r1", "--out", str(out_dir)])
    assert cc.cmd_export(exp) == 0
    names = {p.name for p in out_dir.iterdir()}
    assert {"metrics.json", "predictions.csv", "roc.png", "fold1.safetensors"} <= names
    assert "log.txt" not in names
    for path in out_dir.iterdir():
        blob = _readable_parts(path)
        for secret in (b"DOE", b"JANE", b"PID-12345", b"19500101", str(tmp_path).encode()):
            assert secret not in blob, (path.name, secret)


def _readable_parts(path):
    """What of an exported file can carry text: all of a text file, a safetensors file's JSON
    header, a PNG's text chunks. Weight and pixel bytes are left out: three random bytes of
    a megabyte of float32 weights spell "DOE" about once in fifteen files."""
    blob = path.read_bytes()
    if path.suffix == ".safetensors":
        return blob[8 : 8 + int.from_bytes(blob[:8], "little")]
    if path.suffix == ".png":
        texts, at = [], 8
        while at + 8 <= len(blob):
            size, kind = int.from_bytes(blob[at : at + 4], "big"), blob[at + 4 : at + 8]
            if kind in (b"tEXt", b"iTXt", b"zTXt"):
                texts.append(blob[at + 8 : at + 8 + size])
            at += 12 + size
        return b"".join(texts)
    return blob


def test_runs_table_and_errors(tmp_path, capsys):
    from medview.core.errors import MedviewError

    Project.create(tmp_path / "empty", ["WT", "MUT"]).close()
    args = _parse(cc.add_runs_arguments, [str(tmp_path / "empty")])
    assert cc.cmd_runs(args) == 0
    assert "no runs" in capsys.readouterr().out
    with pytest.raises(MedviewError, match="no run"):
        cc.cmd_predict(_parse(cc.add_predict_arguments, [str(tmp_path / "empty"), "--run", "x"]))
    args = _parse(cc.add_train_arguments, [str(tmp_path / "empty"), *FAST, "--folds", "2"])
    with pytest.raises(MedviewError, match="at least two classes"):
        cc.cmd_train(args)
    from training.__main__ import main

    assert main([str(tmp_path / "missing"), "--folds", "2"]) == 1
    assert "not a medview project" in capsys.readouterr().err


def test_sigint_cancels_cleanly(tmp_path):
    project = make_project(tmp_path, 16)
    folder = project.folder
    project.close()
    cmd = [sys.executable, str(ENTRY), str(folder), *FAST, "--folds", "2", "--epochs", "200",
           "--json-progress", "--run-id", "s"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    lines = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(json.loads(line))
        if lines[-1]["type"] == "epoch" and lines[-1]["fold"] == 2:
            proc.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline
    rest, _err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    last = json.loads(rest.splitlines()[-1])
    assert last["type"] == "cancelled" and last["completed_folds"] == [1]
    with Project.open(folder) as p:
        assert p.get_run("s").status == "cancelled"
    m = json.loads((folder / "runs" / "s" / "metrics.json").read_text())
    assert [f["fold"] for f in m["folds"]] == [1]


def test_ddp_two_gloo_processes(tmp_path):
    project = make_project(tmp_path, 16)
    folder = project.folder
    project.close()
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", str(ENTRY), str(folder),
           *FAST, "--folds", "2", "--fold", "1", "--epochs", "1", "--run-id", "ddp",
           "--device", "cpu", "--json-progress"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    events = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    assert sum(e["type"] == "finished" for e in events) == 1  # only rank 0 reports
    cfg = json.loads((folder / "runs" / "ddp" / "config.json").read_text())
    assert cfg["resolved"]["world_size"] == 2
    m = json.loads((folder / "runs" / "ddp" / "metrics.json").read_text())
    assert m["folds"][0]["epochs_run"] == 1 and m["folds"][0]["n_train"] == 8
    with Project.open(folder) as p:
        assert p.get_run("ddp").status == "finished"


def test_export_of_a_run_with_real_dicom_has_no_patient_fields(tmp_path):
    pydicom_data = pytest.importorskip("pydicom.data")
    from medview.io.importer import import_sources
    from training.api import run_training
    from training.config import TrainConfig

    dcm = pydicom_data.get_testdata_file("CT_small.dcm")
    project = make_project(tmp_path, 12, kind="2d", size=32)
    import_sources(project, [dcm])
    item = next(it for it in project.items() if it.meta.get("format") == "DICOM")
    project.set_label(item.id, "MUT")
    folder = project.folder
    project.close()
    cfg = TrainConfig(
        project=str(folder), model="cnn_small", size=32, folds=2, epochs=1, batch_size=4,
        augment="none", run_id="d",
    )  # fmt: skip
    assert run_training(cfg).status == "finished"
    out_dir = tmp_path / "export"
    cc.cmd_export(
        _parse(cc.add_export_arguments, [str(folder), "--run", "d", "--out", str(out_dir)])
    )
    for path in out_dir.iterdir():
        blob = path.read_bytes()
        for secret in (b"CompressedSamples", b"1CT1", b"JFK IMAGING"):
            assert secret not in blob, (path.name, secret)
