"""Key slices without the window (slice-mode protocol (b), one key slice per volume, headless):
`medview key-slice P ITEM N` and `medview import … --key-slices-csv FILE`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from projects import write_nifti

from medview.cli import main
from medview.core.key_slice_store import KeySlice
from medview.core.project import Project


def _volumes(tmp: Path, n: int = 3) -> Path:
    folder = tmp / "vols"
    folder.mkdir()
    for k in range(n):
        write_nifti(folder / f"v{k}.nii.gz", np.full((8, 10, 12), k, np.float32), (1.0, 1.0, 1.0))
    return folder


def _key_slices(project: str) -> dict[str, KeySlice]:
    with Project.open(project) as p:
        names = {it.id: it.name for it in p.items()}
        return {names[i]: k for i, k in p.key_slices().items()}


def test_key_slices_csv_on_import_sets_each_volume_and_reports_bad_rows(
    tmp_path: Path, capsys
) -> None:
    folder = _volumes(tmp_path)
    project = str(tmp_path / "p.medview")
    assert main(["new", project]) == 0
    table = tmp_path / "keys.csv"
    table.write_text(
        "path,slice,plane\n"
        "vols/v0.nii.gz,3,\n"  # relative to the CSV's folder; axial by default
        "v1,5,coronal\n"  # a name
        "vols/v2.nii.gz,99,\n"  # outside the volume: reported, the rest still set
        "nope.nii.gz,1,\n"
    )
    assert main(["import", project, str(folder), "--key-slices-csv", str(table)]) == 0
    out = capsys.readouterr().out
    assert "key slices: 2 set, 2 skipped" in out
    assert "keys.csv line 4:" in out and "no slice 99 along axis 0" in out
    assert "keys.csv line 5: no item 'nope.nii.gz'" in out
    found = _key_slices(project)
    assert len(found) == 2
    assert KeySlice(0, 3) in found.values() and KeySlice(1, 5) in found.values()


def test_a_key_slices_csv_without_its_columns_stops_the_import_first(tmp_path: Path, capsys):
    folder = _volumes(tmp_path, 1)
    project = str(tmp_path / "p.medview")
    assert main(["new", project]) == 0
    table = tmp_path / "keys.csv"
    table.write_text("file,label\nv0.nii.gz,WT\n")
    assert main(["import", project, str(folder), "--key-slices-csv", str(table)]) == 1
    assert "keys.csv" in capsys.readouterr().err
    with Project.open(project) as p:
        assert not p.items()  # nothing imported


def test_key_slice_command_marks_moves_and_clears(tmp_path: Path, capsys) -> None:
    folder = _volumes(tmp_path, 1)
    project = str(tmp_path / "p.medview")
    assert main(["new", project]) == 0
    assert main(["import", project, str(folder)]) == 0
    with Project.open(project) as p:
        (item,) = p.items()
    capsys.readouterr()
    assert main(["key-slice", project, item.name, "4"]) == 0
    assert f"{item.name}: key slice axial 4" in capsys.readouterr().out
    assert main(["key-slice", project, str(item.id), "11", "--axis", "sagittal", "--id"]) == 0
    assert _key_slices(project) == {item.name: KeySlice(2, 11)}  # one per volume: moved
    assert main(["key-slice", project, item.name, "12", "--axis", "2"]) == 1  # x has 12
    assert "no slice 12 along axis 2" in capsys.readouterr().err
    assert main(["key-slice", project, item.name, "1", "--axis", "top"]) == 2
    assert main(["key-slice", project, item.name, "--clear"]) == 0
    assert _key_slices(project) == {}
