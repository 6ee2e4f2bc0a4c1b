"""The bad-input corpus: every broken file pydicom and nibabel ship, random bytes under each
supported extension, truncated and empty files, absurd declared sizes, broken DICOM series,
odd names, unreadable files and symlink loops. Each bad file is named with a reason, the good
files beside it are imported, no traceback reaches the user and the project stays sound.

(tests/io checks each reader on single files; here the whole corpus goes through the importer
and the real ``medview import`` command, as a user pointing medview at a lab share would.)
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rb_helpers import absurd_nifti, build_corpus, cli_env, run_cli, shipped_files

from medview.core.errors import ReadError
from medview.core.project import Project
from medview.io.importer import import_sources
from medview.io.readers import read_image, scan


def _shown(path: str | Path) -> str:
    """How the CLI prints a path (non-UTF-8 bytes escaped)."""
    return os.fsdecode(path).encode("utf-8", "backslashreplace").decode("utf-8")


# ---------------------------------------------------------------------------- shipped files
def test_every_shipped_test_file_is_an_image_or_a_named_read_error() -> None:
    files = shipped_files()
    assert len(files) > 150  # both packages' test data are installed
    answers: Counter[str] = Counter()
    for path in files:
        try:
            image = read_image(path)
        except ReadError as exc:
            assert exc.path == str(path) and exc.reason and "Traceback" not in exc.reason
            answers["ReadError"] += 1
        else:
            assert image.array.size > 0
            answers["image"] += 1
    assert answers["ReadError"] > 50 and answers["image"] > 50, answers


def test_shipped_test_folders_import_what_they_can_and_name_the_rest(project: Project) -> None:
    from rb_helpers import NIBABEL_FILES, PYDICOM_FILES

    report = import_sources(project, [PYDICOM_FILES, NIBABEL_FILES])
    assert len(report.imported) > 50
    assert len(report.skipped) > 50
    for skipped in report.skipped:
        assert Path(skipped.path).name and skipped.reason
        assert "Traceback" not in skipped.reason
    # The known-broken ones are among the named.
    named = {Path(s.path).name for s in report.skipped}
    assert {"MR_truncated.dcm", "rtplan_truncated.dcm"} <= named
    assert project.integrity_check() == "ok"


# ---------------------------------------------------------------------------- the corpus
def test_corpus_import_names_every_bad_file_and_keeps_the_good(
    project: Project, tmp_path: Path
) -> None:
    bad, good = build_corpus(tmp_path / "share")
    report = import_sources(project, [tmp_path / "share"])
    reasons = {os.fsdecode(s.path): s.reason for s in report.skipped}
    per_class: Counter[str] = Counter()
    for entry in bad:
        assert str(entry.path) in reasons, f"{entry.klass} {entry.path} not reported"
        assert reasons[str(entry.path)]
        per_class[entry.klass] += 1
    assert per_class["random"] == per_class["empty"] == 12
    # Every good file (or series folder) became an item, and can be loaded again.
    sources = {item.path for item in project.items()}
    for path in good:
        if path.is_dir():
            assert any(s.startswith(str(path) + os.sep) for s in sources), path
        else:
            assert str(path) in sources, path
    assert len(report.imported) == len(good)
    from medview.io.readers import load_item

    for item in project.items():
        assert load_item(project, item).array.size > 0
    gap = next(i for i in project.items() if "series_gap" in i.path)
    assert gap.shape[0] == 7 and any("gap" in w or "missing" in w for w in gap.meta["warnings"])
    assert "broken link" in reasons[str(tmp_path / "share" / "links" / "dangling.png")]
    assert project.integrity_check() == "ok"


def test_absurd_declared_sizes_are_refused_before_any_allocation(tmp_path: Path) -> None:
    from io_helpers import write_slice

    nifti = absurd_nifti(tmp_path / "huge.nii", (32000, 32000, 32000))
    dicom = write_slice(
        tmp_path / "huge.dcm",
        np.zeros((4, 4), np.int16),
        series_uid="1.2.3.4",
        instance=1,
        position=(0, 0, 0),
    )
    import pydicom

    ds = pydicom.dcmread(dicom)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 65535, 65535, 5000
    ds.save_as(dicom)
    for path in (nifti, dicom):
        tracemalloc.start()
        try:
            with pytest.raises(ReadError, match="limit"):
                read_image(path)
            result = scan(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert "limit" in result.skipped[0].reason and not result.found
        assert peak < 16 * 1024 * 1024, f"{path.name}: {peak / 2**20:.1f} MiB traced"


def _no_dac() -> list[str]:
    """A command prefix under which even root obeys file permissions (tests run as root,
    and root reads chmod 000 files): drop CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    prefix = [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
    probe = subprocess.run([*prefix, "cat", "/proc/self/status"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("setpriv cannot drop capabilities here")
    return prefix


def test_cli_import_of_the_corpus_no_traceback_every_bad_file_named(tmp_path: Path) -> None:
    """The real command, with strict UTF-8 output, unreadable files and folders included."""
    prefix = _no_dac()
    share = tmp_path / "share"
    bad, good = build_corpus(share)
    locked = share / "locked.png"
    shutil.copy(good[0], locked)
    locked.chmod(0)
    locked_dir = share / "locked_dir"
    locked_dir.mkdir()
    shutil.copy(good[0], locked_dir / "inside.png")
    locked_dir.chmod(0)
    project = tmp_path / "p.medview"
    assert run_cli("new", project).returncode == 0
    try:
        import sys

        done = subprocess.run(
            [*prefix, sys.executable, "-m", "medview", "import", str(project), str(share)],
            capture_output=True,
            text=True,
            errors="backslashreplace",
            env=cli_env(),
            timeout=300,
        )
    finally:
        locked_dir.chmod(stat.S_IRWXU)
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "internal error" not in done.stderr
    out = done.stdout
    assert f"imported {len(good)} item(s)" in out, out
    for entry in bad:
        line = next((s for s in out.splitlines() if _shown(entry.path) + ":" in s), None)
        assert line and line.split(_shown(entry.path) + ":", 1)[1].strip(), entry
    assert f"{locked}: " in out and "permission denied" in out.lower()
    assert f"{locked_dir}: cannot list folder" in out
    items = json.loads(run_cli("items", project, "--json").stdout)
    assert len(items) == len(good)
    with Project.open(project) as p:
        assert p.integrity_check() == "ok"
