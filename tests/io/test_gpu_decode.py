"""The optional nvImageCodec GPU decode path: when it is used, and that it changes no pixel.

There is no GPU here: a fake ``nvidia.nvimgcodec`` module stands in (its "GPU" decodes with
imagecodecs), so the selection logic, the probe, the per-frame fallback and the lazy import
are tested as they run on a CUDA machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types
from pathlib import Path

import dicom_synth  # bench/dicom_synth.py: the bench's own series writer (pythonpath)
import numpy as np
import pytest

from medview.io import dicom, dicom_volume, gpu_decode

ROOT = Path(__file__).resolve().parents[2]


class FakeNvimgcodec(types.ModuleType):
    """The parts of nvImageCodec's Python API that medview calls (0.9: Decoder(backends=),
    decode(CodeStream, params=) -> Image | None, Image.cpu())."""

    def __init__(self, *, device: bool = True, delay: float = 0.0, offset: int = 0) -> None:
        super().__init__(gpu_decode.MODULE)
        self.decoders = 0
        self.calls = 0
        self.fail_for: set[bytes] = set()  # codestreams this "GPU" gives up on
        fake = self

        class BackendKind:
            GPU_ONLY, HW_GPU_ONLY, CPU_ONLY = "gpu", "hw", "cpu"

        class Backend:
            def __init__(self, kind: str) -> None:
                assert kind != "cpu", "medview asks for GPU backends only"
                self.kind = kind

        class ColorSpec:
            UNCHANGED = "unchanged"

        class DecodeParams:
            def __init__(self, **options: object) -> None:
                assert options["allow_any_depth"] is True  # 16-bit samples kept
                self.options = options

        class CodeStream:
            def __init__(self, data: bytes) -> None:
                self.data = bytes(data)

        class Image:
            def __init__(self, array: np.ndarray) -> None:
                self.array = array

            def cpu(self) -> np.ndarray:
                return self.array

        class Decoder:
            def __init__(self, backends: list[Backend] | None = None) -> None:
                if not device:
                    raise RuntimeError("CUDA Runtime failure: '#35'")
                assert backends and all(b.kind in ("gpu", "hw") for b in backends)
                fake.decoders += 1

            def decode(self, stream: CodeStream, params: DecodeParams | None = None):
                fake.calls += 1
                if stream.data in fake.fail_for:
                    return None
                if delay:
                    time.sleep(delay)
                array = _cpu_decode(stream.data).astype(np.int64) + offset
                return Image(array.astype(np.uint16 if array.max() > 255 else np.uint8)[..., None])

        self.BackendKind, self.Backend, self.ColorSpec = BackendKind, Backend, ColorSpec
        self.DecodeParams, self.CodeStream, self.Decoder = DecodeParams, CodeStream, Decoder


def _cpu_decode(data: bytes) -> np.ndarray:
    import imagecodecs

    if data[:2] == b"\xff\x4f":  # a JPEG 2000 codestream
        return imagecodecs.jpeg2k_decode(data)
    return imagecodecs.jpeg8_decode(data)


def _frame(path: Path) -> bytes:
    import pydicom
    from pydicom.encaps import generate_frames

    return next(generate_frames(pydicom.dcmread(path).PixelData, number_of_frames=1))


def _pydicom_volume(paths: list[Path]) -> np.ndarray:
    import pydicom

    out = []
    for path in paths:
        ds = pydicom.dcmread(path)
        intercept = int(getattr(ds, "RescaleIntercept", 0))
        out.append(ds.pixel_array.astype(np.int64) + intercept)
    return np.stack(out)


def _decode(paths: list[Path], tmp_path: Path) -> tuple[dicom_volume.SeriesDecoder, np.ndarray]:
    decoder = dicom_volume.SeriesDecoder([str(p) for p in paths])
    decoder.run(threads=2)
    image = dicom.finish_volume(decoder, tmp_path)
    assert image is not None and decoder.supported
    decoder.image = image  # type: ignore[attr-defined]
    return decoder, image.array


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.delenv("MEDVIEW_GPU_DECODE", raising=False)
    monkeypatch.delenv("MEDVIEW_DICOM_DECODER", raising=False)
    gpu_decode.reset()
    yield
    gpu_decode.reset()


def _install(monkeypatch, fake: types.ModuleType | None) -> None:  # noqa: ANN001
    monkeypatch.setitem(sys.modules, gpu_decode.MODULE, fake)


def _gpu_wins(monkeypatch) -> None:  # noqa: ANN001
    """The probe's timing says the GPU is 10x faster (the frames are still decoded)."""
    seconds = iter([0.001, 0.010])
    monkeypatch.setattr(gpu_decode, "_best_seconds", lambda frame: (frame(), next(seconds))[1])


def test_without_the_package_the_cpu_decodes(tmp_path: Path, monkeypatch) -> None:
    _install(monkeypatch, None)
    paths = dicom_synth.write_series(tmp_path / "s", "jpeg_lossless_sv1", 4, 32)
    decoder, volume = _decode(paths, tmp_path)
    assert not decoder.gpu_used
    np.testing.assert_array_equal(volume, _pydicom_volume(paths))
    assert gpu_decode.status() == (
        "unavailable: nvImageCodec is not installed (pip install 'medview[gpu]')"
    )


def test_with_the_package_but_no_cuda_device_the_cpu_decodes(tmp_path: Path, monkeypatch) -> None:
    fake = FakeNvimgcodec(device=False)
    _install(monkeypatch, fake)
    paths = dicom_synth.write_series(tmp_path / "s", "j2k_lossless", 4, 32)
    decoder, volume = _decode(paths, tmp_path)
    assert not decoder.gpu_used and fake.calls == 0
    np.testing.assert_array_equal(volume, _pydicom_volume(paths))
    status = gpu_decode.status()
    assert isinstance(status, str) and status.startswith("unavailable: no CUDA device")
    assert "#35" in status


@pytest.mark.parametrize("syntax", ["jpeg_lossless_sv1", "j2k_lossless", "jpeg_baseline"])
def test_a_faster_gpu_decodes_every_frame_to_the_cpu_values(
    tmp_path: Path, monkeypatch, syntax: str
) -> None:
    fake = FakeNvimgcodec()
    _install(monkeypatch, fake)
    _gpu_wins(monkeypatch)
    paths = dicom_synth.write_series(tmp_path / "s", syntax, 5, 32)
    decoder, volume = _decode(paths, tmp_path)
    assert decoder.gpu_used
    # the probe: 1 check + 1 timed run (timing faked), then each of the 5 frames once
    assert fake.calls == 2 + 5
    np.testing.assert_array_equal(volume, _pydicom_volume(paths))
    record = gpu_decode.status()[dicom_synth.SYNTAXES[syntax]]  # type: ignore[index]
    assert record["used"] and record["gpu_ms"] < record["cpu_ms"]
    assert "warnings" not in decoder.image.metadata  # type: ignore[attr-defined]


def test_a_slower_gpu_is_measured_and_left_out(tmp_path: Path, monkeypatch) -> None:
    fake = FakeNvimgcodec(delay=0.02)  # 20 ms a 32x32 frame: the CPU takes microseconds
    _install(monkeypatch, fake)
    paths = dicom_synth.write_series(tmp_path / "s", "jpeg_lossless_sv1", 4, 32)
    decoder, volume = _decode(paths, tmp_path)
    assert not decoder.gpu_used
    assert fake.calls == 1 + gpu_decode.PROBE_RUNS  # the probe only, once for the process
    np.testing.assert_array_equal(volume, _pydicom_volume(paths))
    record = gpu_decode.status()[dicom_synth.SYNTAXES["jpeg_lossless_sv1"]]  # type: ignore[index]
    assert not record["used"] and record["reason"] == "slower than the CPU"
    _decode(paths, tmp_path)  # a second series: the verdict is kept, no new probe
    assert fake.calls == 1 + gpu_decode.PROBE_RUNS


def test_a_frame_the_gpu_fails_on_is_decoded_on_the_cpu_with_a_warning(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    fake = FakeNvimgcodec()
    _install(monkeypatch, fake)
    _gpu_wins(monkeypatch)
    paths = dicom_synth.write_series(tmp_path / "s", "j2k_lossless", 5, 32)
    slot_of = {str(p): i for i, p in enumerate(sorted(paths))}  # the decoder's slots: as given
    bad = sorted(paths)[3]
    fake.fail_for.add(_frame(bad))
    decoder, volume = _decode(sorted(paths), tmp_path)
    assert decoder.gpu_used and decoder.state[slot_of[str(bad)]] == 1
    np.testing.assert_array_equal(volume, _pydicom_volume(paths))
    warnings = decoder.image.metadata["warnings"]  # type: ignore[attr-defined]
    assert warnings == [
        f"{bad.name}: GPU decode failed (ValueError: nvImageCodec could not decode the frame); "
        "decoded on the CPU"
    ]
    assert str(bad) in caplog.text


def test_a_gpu_that_gives_other_values_is_not_used(tmp_path: Path, monkeypatch) -> None:
    fake = FakeNvimgcodec(offset=3)  # off by more than any decoder may be
    _install(monkeypatch, fake)
    _gpu_wins(monkeypatch)
    paths = dicom_synth.write_series(tmp_path / "s", "jpeg_baseline", 4, 32)
    decoder, volume = _decode(paths, tmp_path)
    assert not decoder.gpu_used and fake.calls == 1
    np.testing.assert_array_equal(volume, _pydicom_volume(paths))
    record = gpu_decode.status()[dicom_synth.SYNTAXES["jpeg_baseline"]]  # type: ignore[index]
    assert record["reason"] == "the GPU's values differ from the CPU decoder's"


def test_the_environment_turns_it_off_or_forces_it(tmp_path: Path, monkeypatch) -> None:
    fake = FakeNvimgcodec(delay=0.005)
    _install(monkeypatch, fake)
    paths = dicom_synth.write_series(tmp_path / "s", "jpeg_lossless_sv1", 3, 32)
    monkeypatch.setenv("MEDVIEW_GPU_DECODE", "0")
    decoder, _ = _decode(paths, tmp_path)
    assert not decoder.gpu_used and fake.decoders == 0  # not even a decoder made
    assert gpu_decode.status() == "unavailable: turned off (MEDVIEW_GPU_DECODE=0)"
    monkeypatch.setenv("MEDVIEW_GPU_DECODE", "1")  # slower, but forced: no timing
    decoder, volume = _decode(paths, tmp_path)
    assert decoder.gpu_used and fake.calls == 1 + 3
    np.testing.assert_array_equal(volume, _pydicom_volume(paths))


@pytest.mark.parametrize("syntax", ["explicit_le", "rle", "jpegls_lossless"])
def test_other_syntaxes_never_ask_for_the_gpu(tmp_path: Path, monkeypatch, syntax: str) -> None:
    fake = FakeNvimgcodec()
    _install(monkeypatch, fake)
    _gpu_wins(monkeypatch)
    paths = dicom_synth.write_series(tmp_path / "s", syntax, 3, 32)
    decoder, _ = _decode(paths, tmp_path)
    assert not decoder.gpu_used and fake.decoders == 0 and fake.calls == 0


def test_nvimgcodec_is_imported_only_when_a_gpu_syntax_is_decoded(tmp_path: Path) -> None:
    """A real (fake) package on the path: reading the CLI, an uncompressed series, and
    importing the readers leave it alone; a JPEG Lossless series looks it up once."""
    package = tmp_path / "site" / "nvidia" / "nvimgcodec"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text(
        "import os\nopen(os.environ['MARKER'], 'a').write('imported\\n')\n"
        "class BackendKind:\n    GPU_ONLY = HW_GPU_ONLY = 'gpu'\n"
        "def Backend(kind):\n    return kind\n"
        "class Decoder:\n    def __init__(self, backends=None):\n"
        "        raise RuntimeError(\"CUDA Runtime failure: '#35'\")\n"
    )
    plain = dicom_synth.write_series(tmp_path / "plain", "explicit_le", 3, 16)
    lossless = dicom_synth.write_series(tmp_path / "lossless", "jpeg_lossless_sv1", 3, 16)
    marker = tmp_path / "marker"
    script = (
        "import sys\nimport medview.cli, medview.io.readers as r\n"
        "from medview.io import gpu_decode\n"
        f"r.read_image({str(plain[0].parent)!r})\n"
        "assert 'nvidia.nvimgcodec' not in sys.modules\n"
        f"r.read_image({str(lossless[0].parent)!r})\n"
        "print(gpu_decode.status())\n"
    )
    env = {
        **os.environ,
        "MARKER": str(marker),
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)]),
    }
    env.pop("MEDVIEW_GPU_DECODE", None)
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert marker.read_text() == "imported\n"
    assert out.stdout.strip().startswith("unavailable: no CUDA device")


def test_a_damaged_probe_frame_neither_decides_nor_warns(tmp_path: Path, monkeypatch) -> None:
    fake = FakeNvimgcodec()
    _install(monkeypatch, fake)
    _gpu_wins(monkeypatch)
    paths = dicom_synth.write_series(tmp_path / "s", "jpeg_lossless_sv1", 5, 32, corrupt=0)
    decoder, volume = _decode(paths, tmp_path)  # slot 0, the first probed, is the damaged one
    assert decoder.gpu_used and decoder.state[0] == 2  # the next frame probed instead
    np.testing.assert_array_equal(volume, _pydicom_volume(paths[1:]))
    warnings = decoder.image.metadata["warnings"]  # type: ignore[attr-defined]
    assert any(w.startswith(f"skipped {paths[0].name}") for w in warnings)
    assert not any("GPU" in w for w in warnings)  # the file is damaged, not the GPU


def test_the_first_slice_the_window_shows_never_waits_for_the_gpu(
    tmp_path: Path, monkeypatch
) -> None:
    fake = FakeNvimgcodec()
    _install(monkeypatch, fake)
    _gpu_wins(monkeypatch)
    paths = dicom_synth.write_series(tmp_path / "s", "j2k_lossless", 5, 32)
    decoder = dicom_volume.SeriesDecoder([str(p) for p in paths])
    decoder.first_slice(2)
    assert decoder.state[2] == 1 and fake.calls == 0  # CPU: no CUDA start-up, no probe
    decoder.start_background(1)
    assert decoder.wait(30)
    assert decoder.gpu_used and fake.calls == 2 + 4  # the probe, then the other 4 slices
    image = dicom.finish_volume(decoder, tmp_path)
    assert image is not None
    np.testing.assert_array_equal(image.array, _pydicom_volume(paths))
