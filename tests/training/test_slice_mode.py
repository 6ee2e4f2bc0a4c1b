"""Slice mode end to end (issue 13.1): a NIfTI project of small volumes trains a 2D model on
their slices in each mode; slices of a volume (and of a patient) never straddle folds;
predictions.csv holds one row per volume, slices.csv one per slice, patients.csv one per
patient, and metrics.json's levels agree with those files."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from projects import make_slice_project
from sklearn.metrics import roc_auc_score

from medview.core.project import Project
from training.api import run_training
from training.config import TrainConfig


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def sliced_project(tmp_path_factory) -> tuple[Path, dict[int, str | None], int]:
    """12 labelled volumes of 6 patients (2 each), 2 unlabelled; patient 5 is the test
    split; volume 0 has a key slice (index 3), the others fall back to their middle."""
    tmp = tmp_path_factory.mktemp("slices")
    project = make_slice_project(tmp, 12, per_patient=2, unlabelled=2)
    items = project.items()
    groups = {it.id: it.group for it in items if it.label}
    test = [it.id for it in items if it.group == "patient05"]
    project.set_split(test, "test")
    key_volume = items[0].id
    project.set_key_slice(key_volume, 0, 3)
    folder = project.folder
    project.close()
    return folder, groups, key_volume


def _run(folder: Path, slices: str, run_id: str, **kw) -> tuple[Path, dict]:
    cfg = TrainConfig(
        project=str(folder), model="cnn_small", slices=slices, folds=2, epochs=1,
        batch_size=8, size=16, augment="none", auto=False, threads=2, run_id=run_id, **kw,
    )  # fmt: skip
    outcome = run_training(cfg)
    assert outcome.status == "finished", outcome.error
    run_dir = Path(outcome.run_dir)
    return run_dir, json.loads((run_dir / "metrics.json").read_text())


SLOW = pytest.mark.slow  # ~10 s each once torch is warm; "key" runs in the quick suite


@pytest.mark.parametrize(
    ("slices", "per_volume"),
    [
        pytest.param("all", 6, marks=SLOW),
        pytest.param("middle:2", 2, marks=SLOW),
        ("key", 1),
    ],
    ids=str,
)
def test_each_slice_mode_trains_and_keeps_volumes_and_patients_whole(
    sliced_project, slices: str, per_volume: int
) -> None:
    folder, groups, key_volume = sliced_project
    run_dir, metrics = _run(folder, slices, f"slices-{slices.replace(':', '')}")
    assert metrics["unit"] == "volume" and metrics["slice_mode"]["slices"] == slices
    assert metrics["leakage"]["volumes_across_folds"] == 0
    assert metrics["leakage"]["groups_across_folds"] == 0
    slice_rows = _rows(run_dir / "slices.csv")
    labelled_volumes = list(groups)
    per = defaultdict(set)
    for r in slice_rows:
        if r["fold"] != "0":
            per[int(r["item_id"])].add(int(r["slice"]))
    assert {len(s) for v, s in per.items() if v in labelled_volumes} == {per_volume}
    if slices == "key":
        assert per[key_volume] == {3}  # the marked slice; the rest fall back to the middle
        assert metrics["slice_mode"]["key_fallbacks"] == len(labelled_volumes) - 1
    if slices == "all":  # the zero padding (2 + 2 slices) is not content
        assert all(s == {2, 3, 4, 5, 6, 7} for s in per.values())
    # Every slice sits in its volume's fold; the volume's fold holds its whole patient.
    plan = metrics["split_plan"]
    for fold in plan["folds"]:
        val = set(fold["val"])
        fold_slices = {int(r["item_id"]) for r in slice_rows if r["fold"] == str(fold["fold"])}
        assert fold_slices - set(plan["test"]) == val
        val_patients = {groups[v] for v in val}
        assert not val_patients & {groups[v] for v in fold["train"]}
    predictions = _rows(run_dir / "predictions.csv")
    final = [r for r in predictions if r["fold"] == "0"]
    assert len({r["item_id"] for r in final}) == len(final) == len(groups) + 2  # per volume
    assert sum(1 for r in final if not r["true"]) == 2  # the unlabelled volumes, predicted
    levels = metrics["levels"]
    assert set(levels) >= {"slice", "volume", "patient", "about"}
    assert levels["volume"]["n"] == len(labelled_volumes)
    assert levels["patient"]["n"] == 6 and levels["slice"]["n"] == per_volume * 12
    assert (run_dir / "levels.png").is_file() and (run_dir / "patients.csv").is_file()


def test_patient_metrics_match_patients_csv(sliced_project) -> None:
    folder, _groups, _ = sliced_project
    run_dir, metrics = _run(folder, "middle:3", "slices-max", slice_aggregate="max")
    patients = [r for r in _rows(run_dir / "patients.csv") if r["fold"] == "0"]
    oof = [r for r in patients if r["split"] == "val"]
    assert len(oof) == 5 and {r["volumes"] for r in oof} == {"2"}
    y = [1 if r["true"] == "MUT" else 0 for r in oof]
    p = [float(r["prob_MUT"]) for r in oof]
    pooled = metrics["levels"]["patient"]["pooled"]
    assert pooled["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert pooled["accuracy"] == pytest.approx(
        np.mean([(q >= 0.5) == t for q, t in zip(p, y, strict=True)])
    )
    # max: a volume is as positive as its most positive slice (slices.csv, fold 0).
    slices = [r for r in _rows(run_dir / "slices.csv") if r["fold"] == "1"]
    volumes = [r for r in _rows(run_dir / "predictions.csv") if r["fold"] == "1"]
    by_volume = defaultdict(list)
    for r in slices:
        by_volume[r["item_id"]].append(float(r["prob_MUT"]))
    for r in volumes:
        assert float(r["prob_MUT"]) == pytest.approx(max(by_volume[r["item_id"]]), abs=1e-6)
    # `medview predict` of a slice-mode run scores volumes from their slices, like the run.
    from training.predict import predict_run

    with Project.open(folder) as project:
        out, n, _notes = predict_run(project, run_dir.name, "unlabelled", device="cpu")
    own = {
        r["item_id"]: float(r["prob_MUT"])
        for r in _rows(run_dir / "predictions.csv")
        if r["fold"] == "0" and not r["true"]
    }
    again = {r["item_id"]: float(r["prob_MUT"]) for r in _rows(out)}
    assert n == 2 and again == pytest.approx(own, abs=1e-5)


def test_a_3d_model_in_slice_mode_is_refused(sliced_project) -> None:
    folder, _, _ = sliced_project
    with Project.open(folder):
        pass
    cfg = TrainConfig(project=str(folder), model="cnn3d_small", slices="all")
    with pytest.raises(Exception, match="2D model"):
        run_training(cfg)
