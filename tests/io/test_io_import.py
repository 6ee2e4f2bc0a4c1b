"""Import: class folders, CSV, npz, duplicates, re-import, bad files, load_item."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from io_helpers import PNEUMONIA_NPZ, pydicom_file, write_png, write_series

from medview.core.errors import MedviewError, ReadError
from medview.io.importer import import_sources
from medview.io.readers import load_item, read_image, scan


def _class_folders(root: Path) -> Path:
    for i in range(3):
        write_png(root / "WT" / f"wt{i}.png", (8, 8), seed=i)
    for i in range(2):
        write_png(root / "MUT" / f"mut{i}.png", (8, 8), seed=10 + i)
    write_png(root / "MUT" / "deep" / "mut_deep.png", (8, 8), seed=20)
    write_series(root / "WT" / "mouse1", 6, seed=4)
    return root


def test_import_class_folders(project, tmp_path: Path) -> None:
    data = _class_folders(tmp_path / "data")
    report = import_sources(project, [data], label_from="folder")
    assert report.counts == {"MUT": 3, "WT": 4}
    assert not report.skipped and not report.duplicates and not report.added_classes
    items = {i.name: i for i in project.items()}
    assert items["mouse1"].reader == "dicom" and items["mouse1"].kind == "3d"
    assert len(items["mouse1"].paths) == 6 and items["mouse1"].label == "WT"
    assert items["mut_deep"].label == "MUT"
    # Every item loads back.
    for item in project.items():
        image = load_item(project, item)
        assert image.shape == tuple(item.shape[:3])
    assert "imported 7 item(s)" in report.summary_lines()[0]


def test_reimport_adds_nothing_and_reports_duplicates(project, tmp_path: Path) -> None:
    data = _class_folders(tmp_path / "data")
    import_sources(project, [data], label_from="folder")
    before = project.item_count()
    again = import_sources(project, [data], label_from="folder")
    assert project.item_count() == before
    assert not again.imported and len(again.duplicates) == before
    # A copy elsewhere (content identical) is a duplicate too.
    shutil.copytree(data, tmp_path / "copy")
    copy = import_sources(project, [tmp_path / "copy"], label_from="folder")
    assert not copy.imported and len(copy.duplicates) == before
    assert any("same content" in line for line in copy.summary_lines())


def test_duplicates_within_one_import(project, tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", (6, 6), seed=1)
    shutil.copy(tmp_path / "a.png", tmp_path / "b.png")
    report = import_sources(project, [tmp_path])
    assert [i.name for i in report.imported] == ["a"]
    assert report.duplicates[0].existing == "a"
    assert report.counts == {"unlabelled": 1}


def test_unknown_folder_classes_are_added(project, tmp_path: Path) -> None:
    for seed, name in enumerate(("benign", "malignant", "normal")):
        write_png(tmp_path / name / f"{name}.png", (5, 5), seed=seed)
    report = import_sources(project, [tmp_path], label_from="folder")
    assert report.added_classes == ["benign", "malignant", "normal"]
    assert project.class_names() == ["WT", "MUT", "benign", "malignant", "normal"]


def test_class_limit_leaves_items_unlabelled_with_a_note(project, tmp_path: Path) -> None:
    # Two images a class: ten classes of one image each would look like patient folders.
    for k in range(10):
        write_png(tmp_path / f"c{k}" / "x.png", (5, 5), seed=k)
        write_png(tmp_path / f"c{k}" / "y.png", (5, 5), seed=100 + k)
    report = import_sources(project, [tmp_path], label_from="folder")
    assert len(project.class_names()) == 9
    assert len(report.imported) == 20
    assert report.counts["unlabelled"] == 6
    assert any("at most 9" in n for n in report.notes)


def test_loose_files_beside_class_folders_stay_unlabelled(project, tmp_path: Path) -> None:
    write_png(tmp_path / "data" / "WT" / "a.png", (5, 5), seed=1)
    write_png(tmp_path / "data" / "loose.png", (5, 5), seed=2)
    report = import_sources(project, [tmp_path / "data"], label_from="folder")
    assert report.counts == {"WT": 1, "unlabelled": 1}
    assert not report.added_classes


def test_import_folder_named_after_class(project, tmp_path: Path) -> None:
    write_png(tmp_path / "mut" / "a.png", (5, 5))
    report = import_sources(project, [tmp_path / "mut"], label_from="folder")
    assert report.counts == {"MUT": 1}  # matched case-insensitively to the project's class


def test_csv_labels_groups_and_pattern(project, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for i in range(4):
        write_png(data / f"animal{i % 2}_img{i}.png", (6, 6), seed=i)
    write_series(data / "scan7", 4, seed=9)
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(
        "path,label,group\n"
        "data/animal0_img0.png,WT,A0\n"
        f"{data / 'animal1_img1.png'},MUT,\n"
        "data/scan7,MUT,S7\n"
        "data/not_there.png,WT,\n"
    )
    name_csv = tmp_path / "names.csv"
    name_csv.write_text("name;label\nanimal0_img2;WT\n")
    report = import_sources(
        project, [data], labels_csv=csv_path, group_pattern=r"(animal\d)", split="train"
    )
    items = {i.name: i for i in project.items()}
    assert items["animal0_img0"].label == "WT" and items["animal0_img0"].group == "A0"
    assert items["animal1_img1"].label == "MUT" and items["animal1_img1"].group == "animal1"
    assert items["scan7"].label == "MUT" and items["scan7"].group == "S7"
    assert items["animal0_img2"].label is None
    assert all(i.split == "train" for i in items.values())
    assert report.counts == {"MUT": 2, "WT": 1, "unlabelled": 2}
    assert any("matched no imported file" in n for n in report.notes)

    other = tmp_path / "other"
    write_png(other / "animal0_img2.png", (6, 6), seed=2)
    # Same content as an imported file -> duplicate; a new file matched by name instead:
    write_png(other / "fresh.png", (6, 6), seed=99)
    name_csv.write_text("name;label\nfresh;MUT\n")
    second = import_sources(project, [other], labels_csv=name_csv)
    assert second.counts == {"MUT": 1} and len(second.duplicates) == 1


def test_bad_csv_and_options_fail_before_importing(project, tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", (5, 5))
    bad = tmp_path / "bad.csv"
    bad.write_text("file_name_only\nx\n")
    with pytest.raises(ReadError, match="label"):
        import_sources(project, [tmp_path], labels_csv=bad)
    with pytest.raises(MedviewError):
        import_sources(project, [tmp_path], group_pattern="(")
    with pytest.raises(MedviewError):
        import_sources(project, [tmp_path], split="training")
    with pytest.raises(MedviewError):
        import_sources(project, [tmp_path], label_from="csv")
    assert project.item_count() == 0


def _write_npz(path: Path, three_d: bool = False, names: bool = False) -> None:
    rng = np.random.default_rng(3)
    shape = (4, 5, 6) if three_d else (7, 7)
    arrays = {}
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, *shape), dtype=np.uint8)
        labels = rng.integers(0, 3, n)
        arrays[f"{split}_labels"] = labels[:, None] if split != "test" else labels
    if names:
        arrays["label_names"] = np.array(["healthy", "sick", "unsure"])
    np.savez_compressed(path, **arrays)


@pytest.mark.parametrize("three_d", [False, True], ids=["2d", "3d"])
def test_import_npz(project, tmp_path: Path, three_d: bool) -> None:
    path = tmp_path / "set.npz"
    _write_npz(path, three_d)
    report = import_sources(project, [path])
    assert len(report.imported) == 11
    with np.load(path) as archive:
        labels = np.concatenate(
            [archive[f"{s}_labels"].reshape(-1) for s in ("train", "val", "test")]
        )
    names = ["WT", "MUT", "2"]  # index -> project class, a new class for index 2
    expected = {}
    for value in labels:
        expected[names[value]] = expected.get(names[value], 0) + 1
    assert report.counts == dict(sorted(expected.items()))
    if 2 in labels:
        assert report.added_classes == ["2"]
    items = project.items()
    assert sorted({i.split for i in items}) == ["test", "train", "val"]
    assert all(i.kind == ("3d" if three_d else "2d") for i in items)
    item = next(i for i in items if i.meta["key"] == "val_images" and i.meta["row"] == 1)
    image = load_item(project, item)
    with np.load(path) as archive:
        row = archive["val_images"][1]
    np.testing.assert_array_equal(image.array.reshape(row.shape), row)
    assert image.kind == ("3d" if three_d else "2d")
    # The pixels live in the project: deleting the archive loses nothing.
    path.unlink()
    assert project.missing_items() == []
    np.testing.assert_array_equal(load_item(project, item).array.reshape(row.shape), row)
    # Re-importing adds nothing.
    _write_npz(path, three_d)
    assert not import_sources(project, [path]).imported


def test_npz_with_own_class_names(project, tmp_path: Path) -> None:
    path = tmp_path / "named.npz"
    _write_npz(path, names=True)
    report = import_sources(project, [path])
    assert set(report.counts) <= {"healthy", "sick", "unsure"}
    assert set(report.added_classes) == set(report.counts)


def test_npz_object_arrays_are_refused(project, tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, train_images=np.array([object()] * 3, dtype=object))
    report = import_sources(project, [path])
    assert not report.imported
    assert "refused" in report.skipped[0].reason


def test_npz_cache_rebuilt_from_archive(project, tmp_path: Path) -> None:
    path = tmp_path / "set.npz"
    _write_npz(path)
    import_sources(project, [path])
    shutil.rmtree(project.cache_dir / "npz")
    item = project.items()[3]
    assert load_item(project, item).shape == (1, 7, 7)
    path.unlink()
    shutil.rmtree(project.cache_dir / "npz")
    with pytest.raises(ReadError, match="missing"):
        load_item(project, item)


@pytest.mark.skipif(not PNEUMONIA_NPZ.is_file(), reason="../shared/data not present")
def test_real_medmnist_archive(project) -> None:
    result = scan(PNEUMONIA_NPZ)
    assert not result.skipped
    splits = {}
    for candidate in result.found:
        splits[candidate.split] = splits.get(candidate.split, 0) + 1
    assert splits == {"train": 2428, "val": 270, "test": 468}
    assert {c.label_index for c in result.found} == {0, 1}
    assert result.found[0].shape == (1, 28, 28)


def test_bad_files_never_stop_the_good_ones(project, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_series(data / "WT" / "s1", 5, seed=1)
    write_series(data / "WT" / "s1", 3, seed=2)  # a second series in the same folder
    write_png(data / "MUT" / "good.png", (6, 6))
    (data / "MUT" / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    (data / "MUT" / "noise.dcm").write_bytes(np.random.default_rng(1).bytes(2048))
    (data / "MUT" / "noise.nii.gz").write_bytes(np.random.default_rng(2).bytes(2048))
    (data / "MUT" / "zero.tif").write_bytes(b"")
    (data / "README.txt").write_text("notes")
    shutil.copy(pydicom_file("MR_truncated.dcm"), data / "WT" / "trunc.dcm")
    shutil.copy(pydicom_file("rtplan_truncated.dcm"), data / "WT" / "plan.dcm")
    report = import_sources(project, [data], label_from="folder")
    assert report.counts == {"MUT": 1, "WT": 2}
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(skipped) == {
        "junk.png",
        "noise.dcm",
        "noise.nii.gz",
        "zero.tif",
        "README.txt",
        "trunc.dcm",
        "plan.dcm",
    }
    assert all(reason for reason in skipped.values())
    lines = "\n".join(report.summary_lines())
    for name in skipped:
        assert name in lines


def test_progress_and_cancel(project, tmp_path: Path) -> None:
    for i in range(6):
        write_png(tmp_path / f"{i}.png", (5, 5), seed=i)
    calls: list[tuple[int, int, str]] = []
    import_sources(project, [tmp_path], progress=lambda d, t, m: calls.append((d, t, m)))
    assert calls and calls[-1][0] == calls[-1][1]
    event = threading.Event()
    event.set()
    project2 = project.__class__.create(tmp_path / "p2")  # inside the scanned folder: ignored
    try:
        report = import_sources(project2, [tmp_path], cancel=event)
        assert report.cancelled and not report.imported
        state = {"n": 0}

        def cancel_later() -> bool:
            state["n"] += 1
            return state["n"] > 8  # scan (6 checks) + 2 items, then stop

        report = import_sources(project2, [tmp_path], cancel=cancel_later)
        assert report.cancelled and 0 < len(report.imported) < 6
    finally:
        project2.close()


def test_load_item_missing_file_names_it(project, tmp_path: Path) -> None:
    path = write_png(tmp_path / "x.png", (4, 4))
    import_sources(project, [path])
    path.unlink()
    with pytest.raises(ReadError) as info:
        load_item(project, project.items()[0])
    assert "x.png" in str(info.value)


def test_read_image_on_a_series_folder_picks_the_largest(tmp_path: Path) -> None:
    write_series(tmp_path, 5, seed=1)
    write_series(tmp_path, 3, seed=2)
    image = read_image(tmp_path)
    assert image.shape[0] == 5
    assert any("2 series" in w for w in image.metadata["warnings"])


def test_dicom_series_grouped_by_pseudonymised_patient(project, tmp_path: Path) -> None:
    write_series(tmp_path / "d" / "t1", 4, seed=1)
    write_series(tmp_path / "d" / "t2", 3, seed=2)
    import_sources(project, [tmp_path / "d"])
    groups = {item.group for item in project.items()}
    assert len(groups) == 1
    group = groups.pop()
    assert group and "SECRET" not in group
    project.close()
    database = (project.folder / "project.db").read_bytes()
    wal = project.folder / "project.db-wal"
    database += wal.read_bytes() if wal.exists() else b""
    assert b"SECRET" not in database  # neither the patient's name nor the ID is stored


def test_large_npz_import_is_batched(project, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "many.npz"
    np.savez(
        path,
        train_images=rng.integers(0, 255, (1500, 4, 4), dtype=np.uint8),
        train_labels=rng.integers(0, 2, (1500, 1)),
    )
    report = import_sources(project, [path])
    assert len(report.imported) + len(report.duplicates) == 1500
    assert project.item_count() == len(report.imported)
    assert len({i.id for i in report.imported}) == len(report.imported)
