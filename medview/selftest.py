"""``medview self-test``: prove that this installation (or frozen bundle) really works.

The checks are the things a packaged build gets wrong silently and a user only finds out about
much later: a library left out of the bundle, a DICOM decoder plugin that is present but cannot
be found (pylibjpeg finds its plugins through package metadata), a training worker process that
cannot be spawned from a frozen executable, a Qt platform plugin that is missing. Each check
prints one ``OK``/``FAIL`` line with the reason; a failing check never ends the run with a
traceback (set ``MEDVIEW_DEBUG=1`` to see one). The exit status is 0 only if every check passed.

Nothing heavy is imported at module level: ``medview --help`` must stay light, and the imports
themselves are one of the things being checked.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

# Generous: in a frozen bundle the spawned worker must unpack-free import torch + MONAI from
# disk, which on a cold cache and a busy 2-core machine can take tens of seconds.
TRAINING_TIMEOUT_S = float(os.environ.get("MEDVIEW_SELFTEST_TRAINING_TIMEOUT", "300"))
WINDOW_TIMEOUT_S = 60.0

# (import name, label shown to the user). The stack a frozen bundle must contain.
STACK: tuple[tuple[str, str], ...] = (
    ("numpy", "numpy"),
    ("PySide6", "PySide6"),
    ("pyqtgraph", "pyqtgraph"),
    ("torch", "torch"),
    ("torchvision", "torchvision"),
    ("monai", "monai"),
    ("pydicom", "pydicom"),
    ("nibabel", "nibabel"),
    ("tifffile", "tifffile"),
    ("PIL", "Pillow"),
    ("sklearn", "scikit-learn"),
    ("safetensors", "safetensors"),
    ("matplotlib", "matplotlib"),
)


class CheckFailed(Exception):
    """A check's expected failure: the message is the one-line reason shown to the user."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class Context:
    """State shared between checks: a temp folder and the synthetic project made in it."""

    workdir: Path
    project_error: str | None = None
    _project: Path | None = None

    def project(self) -> Path:
        """A tiny labelled 2D project (8 PNG images, WT/MUT), created on first use."""
        if self._project is None:
            from medview.demo import create_demo_project

            path = self.workdir / "selftest.medview"
            try:
                create_demo_project(path, n_volumes=0, n_images=8, seed=3).close()
            except Exception as exc:
                self.project_error = f"{type(exc).__name__}: {_first_line(exc)}"
                raise CheckFailed(f"cannot create the test project: {self.project_error}") from exc
            self._project = path
        return self._project


# ---------------------------------------------------------------------------- checks
def check_imports(ctx: Context) -> str:
    """Import every library of the stack and report its version."""
    found: list[str] = []
    missing: list[str] = []
    for module_name, label in STACK:
        try:
            module = __import__(module_name)
        except Exception as exc:  # ImportError, or an OSError from a missing shared library
            missing.append(f"{label} ({type(exc).__name__}: {_first_line(exc)})")
            continue
        version = _version_of(module, label)
        if module_name == "PySide6":
            with contextlib.suppress(Exception):
                from PySide6 import QtCore

                version += f", Qt {QtCore.qVersion()}"
        found.append(f"{label} {version}")
    if missing:
        raise CheckFailed("cannot import " + "; ".join(missing))
    return ", ".join(found)


def check_device(ctx: Context) -> str:
    """Which device training would use, and a tiny computation on it."""
    import torch

    built = f"torch {torch.__version__}"
    if torch.version.cuda:
        built += f" (built with CUDA {torch.version.cuda})"
    if torch.cuda.is_available():
        device = torch.device("cuda", 0)
        name = f"CUDA: {torch.cuda.get_device_name(0)}"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
        name = "MPS (Apple GPU)"
    else:
        device = torch.device("cpu")
        name = f"CPU ({torch.get_num_threads()} threads)"
        if torch.version.cuda:
            name += ", no CUDA GPU found"
    x = torch.arange(16, dtype=torch.float32, device=device).reshape(4, 4)
    value = float((x @ x).sum().cpu())
    if value != 3920.0:  # sum of x @ x for that 4x4 ramp: a broken BLAS/driver shows here
        raise CheckFailed(f"wrong result of a matrix product on {device}: {value}")
    return f"{name}; {built}"


def check_dicom(ctx: Context) -> str:
    """Decode compressed DICOM: pydicom's own files when present, else in-memory encodings."""
    import numpy as np
    from pydicom.pixels import pixel_array
    from pydicom.pixels.decoders import (
        JPEG2000LosslessDecoder,
        JPEGLSLosslessDecoder,
        RLELosslessDecoder,
    )

    notes: list[str] = []
    # pylibjpeg finds its libjpeg/openjpeg/rle plugins through entry points in the packages'
    # metadata; a bundle that lost the metadata still imports them but decodes nothing.
    for label, decoder in (
        ("RLE", RLELosslessDecoder),
        ("JPEG-LS", JPEGLSLosslessDecoder),
        ("JPEG 2000", JPEG2000LosslessDecoder),
    ):
        plugins = list(decoder.available_plugins)
        if "pylibjpeg" not in plugins:
            why = decoder.missing_dependencies or ["pylibjpeg plugin not registered"]
            raise CheckFailed(f"{label}: no pylibjpeg decoder ({'; '.join(why)})")
        notes.append(f"{label} via {'/'.join(plugins)}")

    decoded: list[str] = []
    reference = _testdata("MR_small.dcm")
    expected = pixel_array(reference) if reference else None
    for name in ("MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_J2KR.dcm"):
        path = _testdata(name)
        if path is None:
            continue
        for plugin in ("", "pylibjpeg"):  # the default choice, and explicitly the plugin
            arr = pixel_array(path, decoding_plugin=plugin)
            if arr.shape != (64, 64):
                raise CheckFailed(f"{name}: decoded shape {arr.shape}, expected (64, 64)")
            if expected is not None and not np.array_equal(arr, expected):
                raise CheckFailed(f"{name}: lossless decode differs from MR_small.dcm")
        decoded.append(name)

    # Always also round-trip an image encoded here: proves the encoders, and covers a bundle
    # that ships without pydicom's test files.
    decoded += _roundtrip_in_memory(ctx.workdir)
    return f"decoded {', '.join(decoded)}; {'; '.join(notes)}"


def _test_image(offset: int = 0) -> Any:
    """A 48 x 40 12-bit image with structure and noise (compresses, but not to nothing)."""
    import numpy as np

    rng = np.random.default_rng(offset)
    image = (np.arange(48 * 40, dtype=np.int64).reshape(48, 40) * 7 + offset * 101) % 4096
    return ((image + rng.integers(0, 64, image.shape)) % 4096).astype(np.uint16)


def _dicom_dataset(image: Any, uid: str, encoder: str, series: dict[str, Any] | None = None) -> Any:
    """A compressed single-frame dataset; with ``series`` an MR slice of one series."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import MRImageStorage, SecondaryCaptureImageStorage, generate_uid

    sop_class = MRImageStorage if series else SecondaryCaptureImageStorage
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR" if series else "OT"
    ds.Rows, ds.Columns = image.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if series:
        ds.StudyInstanceUID = series["study"]
        ds.SeriesInstanceUID = series["series"]
        ds.FrameOfReferenceUID = series["frame"]
        ds.SeriesNumber = 1
        ds.InstanceNumber = series["index"] + 1
        ds.ImagePositionPatient = [0.0, 0.0, 2.0 * series["index"]]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [1.0, 1.0]
        ds.SliceThickness = 2.0
    ds.compress(uid, image, encoding_plugin=encoder)
    return ds


def _roundtrip_in_memory(workdir: Path) -> list[str]:
    import numpy as np
    from pydicom.filereader import dcmread
    from pydicom.pixels import pixel_array
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.pixels.encoders import JPEG2000LosslessEncoder
    from pydicom.uid import JPEG2000Lossless, RLELossless

    image = _test_image()
    done: list[str] = []
    codecs = [(RLELossless, "RLE", "pydicom")]
    if JPEG2000LosslessEncoder.is_available:
        codecs.append((JPEG2000Lossless, "JPEG 2000", "pylibjpeg"))
    for uid, label, encoder in codecs:
        buffer = io.BytesIO()
        _dicom_dataset(image, uid, encoder).save_as(buffer, enforce_file_format=True)
        buffer.seek(0)
        loaded = dcmread(buffer)
        for plugin in get_decoder(uid).available_plugins:
            arr = pixel_array(loaded, decoding_plugin=plugin)
            if not np.array_equal(arr, image):
                raise CheckFailed(f"in-memory {label}: decoding with {plugin} is not lossless")
        done.append(f"in-memory {label}")
        # And through medview's own DICOM reader, as an import of that file would.
        path = workdir / f"selftest-{label.replace(' ', '')}.dcm"
        path.write_bytes(buffer.getvalue())
        done.append(f"{label} via medview.io ({_read_with_medview(path, image)})")
    if JPEG2000LosslessEncoder.is_available:
        done.append(_read_series_in_pool(workdir))
    return done


_UNKNOWN = object()


def _read_series_in_pool(workdir: Path) -> str:
    """A JPEG 2000 series read by medview.io, whose decode pool (spawned processes and shared
    memory) is another thing a frozen build can break. The pool falls back to decoding
    in-process when it cannot start, so whether it ran is checked separately."""
    import numpy as np
    from pydicom.uid import JPEG2000Lossless, generate_uid

    from medview.io import dicom_pixels
    from medview.io.readers import read_image

    # As long as medview.io wants a compressed series to be before it uses the pool.
    slices = min(64, max(2, int(getattr(dicom_pixels, "PARALLEL_MIN_FILES_COMPRESSED", 16))))
    folder = workdir / "j2k-series"
    folder.mkdir(exist_ok=True)
    uids = {"study": generate_uid(), "series": generate_uid(), "frame": generate_uid()}
    expected = [_test_image(z) for z in range(slices)]
    for z, image in enumerate(expected):
        ds = _dicom_dataset(image, JPEG2000Lossless, "pylibjpeg", {**uids, "index": z})
        ds.save_as(folder / f"slice{z:02d}.dcm", enforce_file_format=True)
    saved = os.environ.get("MEDVIEW_DECODE_WORKERS")
    os.environ["MEDVIEW_DECODE_WORKERS"] = "2"  # use the pool even on a 1-core machine
    try:
        volume = np.asarray(read_image(folder).array)
        # medview.io keeps its pool in a module global; if that ever changes, say "unknown"
        # rather than fail.
        pool = getattr(dicom_pixels, "_pool", _UNKNOWN)
    finally:
        if saved is None:
            os.environ.pop("MEDVIEW_DECODE_WORKERS", None)
        else:
            os.environ["MEDVIEW_DECODE_WORKERS"] = saved
        dicom_pixels.shutdown_pool()
    if volume.shape[0] != slices or not all(
        np.allclose(volume[z], expected[z]) for z in range(slices)
    ):
        raise CheckFailed(f"JPEG 2000 series: read shape {volume.shape}, values differ")
    if pool is None:
        raise CheckFailed("JPEG 2000 series: medview.io's decode pool could not start here")
    shape = "x".join(str(n) for n in volume.shape)
    where = "decode pool: unknown" if pool is _UNKNOWN else "in medview.io's decode pool"
    return f"{slices}-slice JPEG 2000 series {where} ({shape})"


def _read_with_medview(path: Path, expected: Any) -> str:
    import numpy as np

    from medview.io.readers import read_image

    array = np.asarray(read_image(path).array)
    # The reader may rescale (HU) and return floats; the values must still be the same.
    if array.size != expected.size or not np.allclose(array.reshape(expected.shape), expected):
        raise CheckFailed(f"{path.name}: medview read shape {array.shape}, values differ")
    return "x".join(str(n) for n in array.shape)


def _testdata(name: str) -> str | None:
    """A pydicom test file if it is on disk; never download (medview runs offline)."""
    try:
        from pydicom.data import get_testdata_file

        path = get_testdata_file(name, download=False)
    except Exception:
        return None
    return str(path) if path and Path(str(path)).is_file() else None


def check_training(ctx: Context) -> str:
    """One tiny training run in the real spawned worker process, through medview.jobs."""
    project_path = ctx.project()
    config = {
        "project": str(project_path),
        "model": "cnn_small",
        "folds": 2,
        "epochs": 1,
        "batch_size": 4,
        "size": 32,
        "device": "auto",
        "augment": "none",
        "seed": 1,
    }
    return _run_worker(config, project_path)


def _run_worker(config: dict[str, Any], project_path: Path) -> str:
    from medview.jobs.runner import TrainingJob

    job = TrainingJob(config)
    job.start()
    try:
        messages = job.wait(timeout=TRAINING_TIMEOUT_S)
    except TimeoutError as exc:
        raise CheckFailed(
            f"the training worker (pid {job.pid}) did not finish in {TRAINING_TIMEOUT_S:.0f} s"
        ) from exc
    finally:
        job.terminate()  # a no-op when it has ended; never leave a worker behind
    final = job.final
    kinds = [m.type for m in messages]
    if final is None or final.type != "finished":
        reason = getattr(final, "error", None) or (final.type if final else "no final message")
        raise CheckFailed(f"the worker did not finish: {reason}")
    if "started" not in kinds or "epoch" not in kinds:
        raise CheckFailed(f"the worker sent no progress (messages: {', '.join(kinds)})")
    started = next(m for m in messages if m.type == "started")
    device = getattr(started, "plan", {}).get("device", "?")
    run_dir = Path(getattr(final, "run_dir", "") or project_path / "runs" / str(job.run_id))
    if not (run_dir / "metrics.json").is_file():
        raise CheckFailed(f"the run finished but wrote no {run_dir / 'metrics.json'}")
    epochs = kinds.count("epoch")
    return (
        f"worker pid {job.pid} (spawn) trained {config['model']} on {device}: "
        f"{epochs} epoch(s) over {config['folds']} folds, run {job.run_id} written"
    )


def check_window(ctx: Context) -> str:
    """Open the main window (offscreen when there is no display), wait until shown, close.

    In a spawned child process: when Qt cannot start its platform plugin (a missing xcb
    library, a stale DISPLAY over ssh) it aborts the whole process, and the self-test must
    still print its verdict. The spawn also exercises the bundle's multiprocessing once more.
    """
    import multiprocessing
    import queue as queue_mod

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        # No display server: Qt would abort ("could not connect to display"). The spawned
        # child inherits this environment.
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        project: Path | None = ctx.project()
    except CheckFailed:  # already reported by the training check: show the welcome screen
        project = None
    mp = multiprocessing.get_context("spawn")
    results = mp.Queue()
    child = mp.Process(
        target=_window_child,
        args=(str(project) if project else None, results),
        name="medview-selftest-window",
        daemon=True,
    )
    child.start()
    deadline = time.monotonic() + WINDOW_TIMEOUT_S
    try:
        while True:
            try:
                ok, detail = results.get(timeout=0.2)
                break
            except queue_mod.Empty:
                if not child.is_alive():
                    with contextlib.suppress(queue_mod.Empty):  # it may have just finished
                        ok, detail = results.get(timeout=1.0)
                        break
                    # A Qt abort: no result will ever come.
                    raise CheckFailed(
                        f"the window process died (exit code {child.exitcode}): "
                        "Qt could not start, see its message above"
                    ) from None
                if time.monotonic() > deadline:
                    raise CheckFailed(f"no window within {WINDOW_TIMEOUT_S:.0f} s") from None
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join(5)
    if not ok:
        raise CheckFailed(detail)
    return detail


def _window_child(project: str | None, results: Any) -> None:
    """Runs in the spawned process: report (ok, detail) on the queue, never raise."""
    try:
        from PySide6.QtCore import qInstallMessageHandler

        from medview.ui.app import create_app, create_window

        qInstallMessageHandler(_quiet_qt_messages)
        results.put((True, _show_and_close_window(project, create_app, create_window)))
    except CheckFailed as exc:
        results.put((False, str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent as FAIL
        if os.environ.get("MEDVIEW_DEBUG"):
            traceback.print_exc()
        results.put((False, f"{type(exc).__name__}: {_first_line(exc)}"))


# The offscreen platform warns once per shown window that it cannot pass size hints on; that
# is expected there and says nothing about the bundle, so it is not printed.
_EXPECTED_QT_MESSAGES = ("does not support propagateSizeHints",)


def _quiet_qt_messages(mode: Any, context: Any, message: str) -> None:
    if not any(expected in message for expected in _EXPECTED_QT_MESSAGES):
        print(message, file=sys.stderr)


def _show_and_close_window(project: str | None, create_app: Any, create_window: Any) -> str:
    app = create_app([sys.argv[0]])
    start = time.perf_counter()
    # With the synthetic project open, so the item browser and the slice view (pyqtgraph)
    # render a real image, not only the welcome screen.
    window = create_window(project)
    window.show()
    deadline = start + WINDOW_TIMEOUT_S
    while not _exposed(window):
        if time.perf_counter() > deadline:
            raise CheckFailed(f"the window was not shown within {WINDOW_TIMEOUT_S:.0f} s")
        app.processEvents()
        time.sleep(0.005)
    shown_ms = (time.perf_counter() - start) * 1000
    title = window.windowTitle()
    # Let queued work (thumbnails, first image) run briefly: a crash there is a failure too.
    settle = time.perf_counter() + 0.5
    while time.perf_counter() < settle:
        app.processEvents()
        time.sleep(0.01)
    window.close()
    app.processEvents()
    what = "with the test project" if project else "welcome screen"
    return (
        f"pid {os.getpid()}: platform {app.platformName()}, '{title}' ({what}) "
        f"shown in {shown_ms:.0f} ms, closed"
    )


def _exposed(window: Any) -> bool:
    handle = window.windowHandle()
    return bool(window.isVisible() and handle is not None and handle.isExposed())


CHECKS: tuple[tuple[str, Callable[[Context], str]], ...] = (
    ("imports", check_imports),
    ("device", check_device),
    ("dicom", check_dicom),
    ("training", check_training),
    ("window", check_window),
)


# ---------------------------------------------------------------------------- runner
def run_self_test(out: TextIO | None = None) -> int:
    """Run every check, print one line per check, return 0 only if all passed."""
    out = out or sys.stdout
    from medview import __version__

    frozen = getattr(sys, "frozen", False)
    where = f"bundle {Path(sys.executable).parent}" if frozen else f"source {_source_root()}"
    print(
        f"medview self-test: medview {__version__}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, {where}",
        file=out,
        flush=True,
    )
    results: list[CheckResult] = []
    with _workdir() as workdir:
        ctx = Context(workdir=workdir)
        for name, check in CHECKS:
            result = _run_check(name, check, ctx)
            results.append(result)
            status = "OK  " if result.ok else "FAIL"
            print(
                f"{status} {name:9s} {result.detail} [{result.seconds:.1f} s]", file=out, flush=True
            )
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(
            f"self-test FAILED: {len(failed)} of {len(results)} checks ({', '.join(failed)})",
            file=out,
            flush=True,
        )
        return 1
    print(f"self-test passed: all {len(results)} checks OK", file=out, flush=True)
    return 0


def _run_check(name: str, check: Callable[[Context], str], ctx: Context) -> CheckResult:
    start = time.perf_counter()
    try:
        detail = check(ctx)
        ok = True
    except CheckFailed as exc:
        detail, ok = str(exc), False
    except BaseException as exc:  # noqa: BLE001 - a self-test reports, it never crashes
        if isinstance(exc, KeyboardInterrupt):
            raise
        if os.environ.get("MEDVIEW_DEBUG"):
            traceback.print_exc()
        detail, ok = f"{type(exc).__name__}: {_first_line(exc)}", False
    return CheckResult(name, ok, detail, time.perf_counter() - start)


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    # ignore_cleanup_errors: on Windows a worker that just exited may still hold a file open.
    with tempfile.TemporaryDirectory(prefix="medview-selftest-", ignore_cleanup_errors=True) as d:
        yield Path(d)


def _version_of(module: Any, label: str) -> str:
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as dist_version

            version = dist_version(label)
        except Exception:
            version = "?"
    return str(version)


def _source_root() -> str:
    return str(Path(__file__).resolve().parent.parent)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
