"""Private data: DICOM series whose headers carry recognisable fake patient data (the fields
of the DICOM PS3.15 basic profile a lab share really holds) go through import, a tiny
training run, predict and export; then every file medview wrote and everything it printed is
searched for those values. None may appear anywhere, the project database included (it may
keep a salted pseudonym of the patient id for grouping, never the id).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from rb_helpers import run_cli

pytest.importorskip("torch")

# Recognisable values, each unlikely to occur by chance in any file.
PHI = {
    "PatientName": "Zyxwortel^Quimbyanna",
    "PatientID": "PHI-ID-99887766",
    "PatientBirthDate": "19420817",
    "PatientSex": "O",  # (a single letter cannot be searched for; checked by keyword below)
    "PatientAge": "077Y",
    "PatientAddress": "42 Wallabyish Way, Sydneyton",
    "OtherPatientIDs": "OTHER-PHI-55443322",
    "InstitutionName": "Sanatorium Obscuranto",
    "InstitutionAddress": "7 Hospitalstrasse, Nowheresville",
    "InstitutionalDepartmentName": "Dept of Secret Radiologie",
    "ReferringPhysicianName": "Strangelovely^Merkwuerdig",
    "PerformingPhysicianName": "Performer^Phyllidia",
    "OperatorsName": "Operatorius^Olafsdottir",
    "AccessionNumber": "ACC-55512349",
    "StudyID": "STUDY-77733",
    "StudyDate": "19991231",
    "SeriesDate": "19991230",
    "AcquisitionDate": "19991229",
    "ContentDate": "19991228",
    "StudyTime": "235959.123456",
    "StationName": "SCANROOM-1313",
    "DeviceSerialNumber": "SN-31415926535",
    "StudyDescription": "Zyxwortel follow-up study",
}
# Also never written: these keywords (a dump of the header would name them).
KEYWORDS = ("PatientName", "PatientBirthDate", "PatientSex", "PatientAddress", "Institution")


def _series(folder: Path, patient: int, positive: bool, seed: int) -> None:
    from io_helpers import write_series
    from pydicom import dcmread

    paths = write_series(folder, 6, size=(16, 16), seed=seed, description="axial")
    rng = np.random.default_rng(seed)
    for k, path in enumerate(paths):
        ds = dcmread(path)
        for keyword, value in PHI.items():
            setattr(ds, keyword, value)
        # One patient id per two series: grouping must use the pseudonym.
        ds.PatientID = f"{PHI['PatientID']}-{patient}"
        ds.PatientName = f"{PHI['PatientName']}{patient}"
        pixels = ds.pixel_array.astype(np.int16) + rng.integers(0, 20, (16, 16)).astype(np.int16)
        if positive and 2 <= k <= 4:
            pixels[4:12, 4:12] += 400
        ds.PixelData = pixels.tobytes()
        ds.save_as(path)


def _values() -> list[str]:
    values = [v for k, v in PHI.items() if k != "PatientSex"]
    values += [v.replace("^", " ") for v in values if "^" in v]  # as a "nice" name
    values += [PHI["PatientBirthDate"][:4] + "-" + PHI["PatientBirthDate"][4:6]]  # 1942-08
    return values


def test_no_patient_data_in_anything_medview_writes_or_prints(tmp_path: Path) -> None:
    data = tmp_path / "share"
    for n in range(8):
        cls = ("WT", "MUT")[n % 2]
        _series(data / cls / f"series{n}", patient=n // 2, positive=n % 2 == 1, seed=n)
    (data / "unlabelled").mkdir()
    _series(data / "unlabelled" / "series9", patient=9, positive=True, seed=9)
    project = tmp_path / "p.medview"
    outputs: list[str] = []

    def cli(*args: object) -> str:
        done = run_cli(*args)
        assert done.returncode == 0, f"{args}: {done.stderr}"
        outputs.extend([done.stdout, done.stderr])
        return done.stdout

    cli("new", project)
    cli("import", project, data / "WT", data / "MUT", "--label-from", "folder")
    cli("import", project, data / "unlabelled")
    train = ["--model", "cnn3d_small", "--size", "16", "--folds", "2", "--epochs", "2"]
    train += ["--batch-size", "4", "--threads", "1", "--device", "cpu"]
    cli("train", project, *train, "--json-progress")  # log lines go out as messages too
    import json

    runs = json.loads(cli("runs", project, "--json"))
    run_id = runs[0]["id"]
    cli("predict", project, "--run", run_id, "--items", "all")
    cli("export", project, "--run", run_id, "--out", tmp_path / "export")
    items = json.loads(cli("items", project, "--json"))
    cli("items", project)
    cli("info", project)
    assert len(items) == 9 and all(i["group"].startswith("pt-") for i in items)
    assert len({i["group"] for i in items}) == 5  # 4 patients of 2 series + 1

    # Thumbnails (the browser's cache) and a Grad-CAM-free window-less view of the items.
    from medview.core.project import Project
    from medview.io.thumbnails import thumbnail, thumbnail_path

    with Project.open(project) as p:
        for item in p.items():
            thumbnail(p, item)
            assert thumbnail_path(p, item).is_file()

    written = [
        path
        for base in (project, tmp_path / "export")
        for path in base.rglob("*")
        if path.is_file()
    ]
    kinds = {path.suffix for path in written}
    assert {".csv", ".json", ".txt", ".svg", ".png", ".safetensors", ".npy", ".db"} <= kinds
    leaks = []
    values = _values()
    source = next((data / "WT" / "series0").iterdir()).read_bytes()
    assert all(v.encode() in source for v in values[:3])  # the search would find them
    for path in written:
        blob = path.read_bytes()
        for value in values:
            for encoded in (value.encode(), value.encode("utf-16-le")):
                if encoded in blob:
                    leaks.append(f"{path.relative_to(tmp_path)}: {value!r}")
        if path.suffix != ".db":
            text = blob.decode("latin-1")
            leaks += [f"{path.relative_to(tmp_path)}: {k}" for k in KEYWORDS if k in text]
    printed = "\n".join(outputs)
    leaks += [f"printed: {v!r}" for v in values if v in printed]
    leaks += [f"printed: {k}" for k in KEYWORDS if k in printed]
    assert not leaks, "\n".join(leaks)
    # The project keeps group keys as salted pseudonyms, never the patient ids.
    assert os.path.getsize(project / "project.db") > 0
