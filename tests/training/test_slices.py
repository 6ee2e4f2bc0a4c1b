"""Slice mode's pieces without training: which slices, along which axis, the slice store's
memory, folds that never split a volume or a patient, and volume/patient aggregation checked
against a hand computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from projects import make_slice_project
from sklearn.metrics import roc_auc_score

from training import aggregate as A
from training.config import ConfigError, TrainConfig, parse_slices
from training.cross_validation import audit_leakage, expand_plan, plan_splits
from training.slice_data import check_slice_memory, load_slices
from training.slices import (
    KeySlice,
    acquisition_axis,
    content_mask,
    middle_indices,
    plane_name,
    planned_slices,
    select_slices,
    slice_memory_bytes,
)
from training.transforms import PrepSettings


def test_slices_option_parses_and_bad_values_are_refused() -> None:
    assert parse_slices("all") == ("all", 0)
    assert parse_slices("middle:5") == ("middle", 5)
    assert parse_slices("key") == ("key", 1)
    for bad in ("middle", "middle:0", "some", "middle:x"):
        with pytest.raises(ConfigError, match="--slices must be"):
            parse_slices(bad)
    with pytest.raises(ConfigError, match="3D model"):
        TrainConfig(project="p", slices="all", model="medicalnet_resnet10").validate()
    with pytest.raises(ConfigError, match="--slice-aggregate"):
        TrainConfig(project="p", slices="all", slice_aggregate="median").validate()
    cfg = TrainConfig(project="p", slices="key", model="vgg16", kind="3d")
    cfg.validate()  # a 2D model on 3D items
    assert cfg.item_kind == "3d" and TrainConfig(project="p").resolved_model("3d") != "resnet18"
    assert cfg.resolved_model("3d") == "vgg16"
    assert TrainConfig(project="p", slices="all").resolved_model("3d") == "resnet18"


def test_all_drops_air_slices_middle_takes_the_centre_key_falls_back() -> None:
    volume = np.zeros((10, 8, 8), dtype=np.float32)
    volume[3:8] = np.random.default_rng(0).normal(100, 10, (5, 8, 8))
    assert content_mask(volume, 0, 0.05).tolist() == [False] * 3 + [True] * 5 + [False] * 2
    chosen = select_slices(volume, 0, "all")
    assert chosen.indices == [3, 4, 5, 6, 7] and chosen.dropped == 5
    assert select_slices(volume, 0, "all", min_content=0).indices == list(range(10))
    assert select_slices(volume, 0, "middle:3").indices == [4, 5, 6]
    assert select_slices(volume, 0, "middle:30").indices == list(range(10))
    assert middle_indices(7, 2) == [2, 3]
    key = select_slices(volume, 0, "key", key=KeySlice(2, 5))
    assert (key.axis, key.indices, key.source) == (2, [5], "key")
    missing = select_slices(volume, 0, "key")
    assert (missing.indices, missing.source) == ([5], "middle (no key slice)")
    blank = select_slices(np.zeros((4, 8, 8)), 0, "all")
    assert blank.indices == [2] and blank.notes  # a labelled volume is never lost


def test_the_plane_follows_the_acquisition_axis() -> None:
    # direction[:, i]: the patient (LPS x, y, z) vector of array axis i (z, y, x).
    axial = np.column_stack([[0, 0, 1.0], [0, 1.0, 0], [1.0, 0, 0]])  # a NIfTI of eye(4)
    assert plane_name(axial, 0) == "axial" and plane_name(axial, 2) == "sagittal"
    sagittal = np.column_stack([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # stacked along x
    assert plane_name(sagittal, 0) == "sagittal"
    coronal = np.column_stack([[0, 0.98, 0.2], [0, 0, -1.0], [1.0, 0, 0]])  # tilted a little
    assert plane_name(coronal, 0) == "coronal"
    assert plane_name(np.eye(3), 0) == "axial"  # unknown orientation: the slice view's name
    assert acquisition_axis(np.eye(3), {}) == 0
    assert acquisition_axis(np.eye(3), {"slice_axis": 2}) == 2  # a NIfTI dim_info says so


def test_the_200_volume_60_slice_224px_project_fits_the_memory_budget(monkeypatch) -> None:
    """The issue's case: 12,000 slices at 224 px. Float32 RGB copies would be 7.2 GB; the
    store is one float16 channel, 1.2 GB, under a 2 GiB limit."""
    n = 200 * 60
    assert slice_memory_bytes(n, 224) == n * 224 * 224 * 2
    assert slice_memory_bytes(n, 224) < 1.25e9 < n * 3 * 224 * 224 * 4 / 5

    class Vol:
        shape = (60, 512, 512)
        meta: dict = {}
        name = "v"

    monkeypatch.setenv("MEDVIEW_TRAIN_MEMORY_MB", "2048")
    assert check_slice_memory([Vol()] * 200, "all", 224) == n
    assert planned_slices((60, 512, 512), 0, "middle:8") == 8
    assert planned_slices((60, 512, 512), 0, "key") == 1
    monkeypatch.setenv("MEDVIEW_TRAIN_MEMORY_MB", "1000")
    with pytest.raises(Exception, match="12000 slices of 200 volumes .* middle:N"):
        check_slice_memory([Vol()] * 200, "all", 224)


def test_the_slice_store_is_half_precision_one_channel(tmp_path: Path) -> None:
    project = make_slice_project(tmp_path, n=4)
    items = project.items(labelled=True)
    prep = PrepSettings(2, 12, 3)
    data = load_slices(project, items, prep, ["WT", "MUT"], "all")
    assert data.n_slices == 4 * 6  # the 2 + 2 zero slices of each volume are dropped
    assert data.x.shape == (24, 3, 12, 12) and data.x.dtype.itemsize == 2
    assert data.x.untyped_storage().nbytes() == 24 * 12 * 12 * 2  # one channel stored
    assert data.x[[0, 5]].float().shape == (2, 3, 12, 12)  # a batch gets real channels
    assert data.y.tolist() == [data.volume_y[v].item() for v in data.volume_of]
    assert data.planes == ["axial"] * 4 and any("without content" in n for n in data.notes)
    keyed = load_slices(
        project, items, prep, ["WT", "MUT"], "key", keys={items[0].id: KeySlice(0, 3)}
    )
    assert keyed.n_slices == 4 and keyed.index.tolist()[0] == 3
    assert any("3 volume(s) have no key slice" in n for n in keyed.notes)


def test_slices_of_a_volume_and_of_a_patient_never_straddle_folds() -> None:
    volumes = 30  # 10 patients of 3 volumes, classes by patient
    labels = [(v // 3) % 2 for v in range(volumes)]
    groups = [f"p{v // 3}" for v in range(volumes)]
    ids = list(range(100, 100 + volumes))
    plan = plan_splits(labels, groups, [None] * volumes, ids, n_folds=5, seed=1)
    volume_of = [v for v in range(volumes) for _ in range(v % 4 + 1)]  # 1-4 slices each
    sliced = expand_plan(plan, volume_of)
    for fold, vfold in zip(sliced.folds, plan.folds, strict=True):
        assert {volume_of[s] for s in fold.val} == set(vfold.val)
        assert not {volume_of[s] for s in fold.train} & {volume_of[s] for s in fold.val}
        assert len(fold.train) + len(fold.val) == len(volume_of)
    audit = audit_leakage(
        sliced,
        [f"h{volume_of[s]}" for s in range(len(volume_of))],
        [groups[volume_of[s]] for s in range(len(volume_of))],
        [ids[volume_of[s]] for s in range(len(volume_of))],
        sources=[ids[volume_of[s]] for s in range(len(volume_of))],
    )
    assert audit["volumes_across_folds"] == 0 and audit["groups_across_folds"] == 0
    # The audit does see a volume whose slices were split (a broken expansion):
    fold = sliced.folds[0]
    split_one = next(s for s in fold.val if volume_of.count(volume_of[s]) > 1)
    fold.val.remove(split_one)
    fold.train.append(split_one)
    sources = [ids[v] for v in volume_of]
    found = audit_leakage(
        sliced, [f"h{v}" for v in volume_of], [None] * len(sources), sources, sources=sources
    )
    assert found["volumes_across_folds"] == 1


def test_volume_and_patient_metrics_equal_a_hand_computation() -> None:
    # Volume 1 (patient A, MUT): slices 0.9, 0.5; volume 2 (patient A, MUT): 0.7.
    # Volume 3 (patient B, WT): 0.2, 0.4, 0.6; volume 4 (patient C, WT): 0.1;
    # volume 5 (patient D, MUT): 0.3, 0.35.
    p = {1: [0.9, 0.5], 2: [0.7], 3: [0.2, 0.4, 0.6], 4: [0.1], 5: [0.3, 0.35]}
    truth = {1: 1, 2: 1, 3: 0, 4: 0, 5: 1}
    groups = {1: "A", 2: "A", 3: "B", 4: "C", 5: "D"}
    rows = [
        A.SliceRow(v, 1, "val", truth[v], [1 - q, q], index=k)
        for v, qs in p.items()
        for k, q in enumerate(qs)
    ]
    mean = {r.item_id: r.probs[1] for r in A.volume_rows(rows, "mean")}
    assert mean == pytest.approx({1: 0.7, 2: 0.7, 3: 0.4, 4: 0.1, 5: 0.325})
    top = {r.item_id: r.probs[1] for r in A.volume_rows(rows, "max")}
    assert top == pytest.approx({1: 0.9, 2: 0.7, 3: 0.6, 4: 0.1, 5: 0.35})
    patients = A.patient_rows(A.volume_rows(rows, "mean"), groups, "mean")
    by_group = {r.group: (r.true, r.probs[1], r.volumes) for r in patients}
    assert by_group == {
        "A": (1, pytest.approx(0.7), 2),
        "B": (0, pytest.approx(0.4), 1),
        "C": (0, pytest.approx(0.1), 1),
        "D": (1, pytest.approx(0.325), 1),
    }
    levels = A.level_metrics(["WT", "MUT"], [1], A.volume_rows(rows, "mean"))
    fold = levels["folds"][0]
    y, q = [1, 1, 0, 0, 1], [0.7, 0.7, 0.4, 0.1, 0.325]
    assert fold["roc_auc"] == pytest.approx(roc_auc_score(y, q))  # 5/6
    assert fold["accuracy"] == pytest.approx(4 / 5)  # 0.325 is missed at 0.5
    assert fold["recall"] == pytest.approx(2 / 3) and fold["specificity"] == 1.0
    patient = A.level_metrics(["WT", "MUT"], [1], patients)["folds"][0]
    assert patient["n"] == 4 and patient["accuracy"] == pytest.approx(3 / 4)
    assert patient["roc_auc"] == pytest.approx(roc_auc_score([1, 0, 0, 1], [0.7, 0.4, 0.1, 0.325]))
    assert A.patient_truth([0, 1, None], 2) == 1 and A.patient_truth([2, 0, 2], 3) == 2


def test_a_nifti_header_naming_its_slice_dimension_sets_the_axis(tmp_path: Path) -> None:
    import nibabel as nib

    from medview.io.nifti import read_nifti

    image = nib.Nifti1Image(np.zeros((6, 5, 4), dtype=np.float32), np.eye(4))
    image.header.set_dim_info(slice=0)  # nibabel's i: medview's array axis 2 (x)
    nib.save(image, str(tmp_path / "sag.nii"))
    read = read_nifti(tmp_path / "sag.nii")
    assert read.metadata["slice_axis"] == 2
    assert acquisition_axis(read.direction, read.metadata) == 2
    nib.save(nib.Nifti1Image(np.zeros((6, 5, 4), dtype=np.float32), np.eye(4)), tmp_path / "a.nii")
    assert "slice_axis" not in read_nifti(tmp_path / "a.nii").metadata


def test_auto_has_a_slice_mode_entry_and_counts_slices() -> None:
    from training.auto import MODEL_RULES, SIZE_RULES, profile_items
    from training.slices import per_slice_sizes

    class Vol:
        def __init__(self, label: str) -> None:
            self.shape, self.label = (24, 96, 80), label

    profile = profile_items([Vol("WT"), Vol("MUT")], ["WT", "MUT"], "slices")
    size, why = SIZE_RULES["slices"](profile, "cpu", False)
    assert size == 96 and "slices of volumes" in why  # the in-plane side, not the depth
    assert MODEL_RULES["slices"] == "cnn_small"
    # Auto's epochs and the time estimate count slices: 24 a volume with "all", 3 "middle:3".
    assert per_slice_sizes((3, 10, 5, 0), [(24, 96, 80)] * 2, "all") == (3, 240, 120, 0)
    assert per_slice_sizes((3, 10, 5, 2), [(24, 96, 80)] * 2, "middle:3") == (3, 30, 15, 6)
    assert per_slice_sizes((3, 10, 5, 0), [(24, 96, 80)], None) == (3, 10, 5, 0)
