"""The series decoder: every syntax pixel-identical to pydicom, threads, memory, bad slices."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import dicom_synth  # bench/dicom_synth.py: the bench's own series writer (pythonpath)
import numpy as np
import pytest

from medview.io import dicom, dicom_codecs, dicom_volume
from medview.io.readers import read_image


def _pydicom_volume(paths: list[Path]) -> np.ndarray:
    """pydicom's own decode, rescaled exactly, in slice order."""
    import pydicom

    out = []
    for path in paths:
        ds = pydicom.dcmread(path)
        slope = int(getattr(ds, "RescaleSlope", 1))
        intercept = int(getattr(ds, "RescaleIntercept", 0))
        out.append(ds.pixel_array.astype(np.int64) * slope + intercept)
    return np.stack(out)


@pytest.mark.parametrize("syntax", list(dicom_synth.SYNTAXES))
def test_every_syntax_is_pixel_identical_to_pydicom(tmp_path: Path, syntax: str) -> None:
    paths = dicom_synth.write_series(tmp_path / syntax, syntax, 6, 48)  # shuffled file names
    image = read_image(tmp_path / syntax)
    np.testing.assert_array_equal(image.array, _pydicom_volume(paths))
    assert "warnings" not in image.metadata


@pytest.mark.parametrize("backend", ["imagecodecs", "gdcm", "pylibjpeg", "pydicom"])
@pytest.mark.parametrize("syntax", ["jpeg_lossless_sv1", "jpegls_lossless", "j2k_lossless"])
def test_each_decoder_is_pixel_identical(tmp_path: Path, monkeypatch, backend, syntax) -> None:
    if not dicom_codecs.available(backend):
        pytest.skip(f"{backend} is not installed")
    paths = dicom_synth.write_series(tmp_path / syntax, syntax, 4, 40)
    monkeypatch.setenv("MEDVIEW_DICOM_DECODER", backend)
    decoder = dicom_volume.SeriesDecoder([str(p) for p in paths])
    decoder.run(threads=2)
    assert decoder.backend == backend and decoder.supported
    image = dicom.finish_volume(decoder, tmp_path)
    assert image is not None
    np.testing.assert_array_equal(image.array, _pydicom_volume(paths))


def test_the_default_install_decodes_jpeg_lossless_with_imagecodecs_on_threads(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("MEDVIEW_DICOM_DECODER", raising=False)
    monkeypatch.setenv("MEDVIEW_DECODE_THREADS", "2")
    started = []
    original = dicom_volume.SeriesDecoder.start
    monkeypatch.setattr(
        dicom_volume.SeriesDecoder,
        "start",
        lambda self, threads: started.append((self.backend, threads)) or original(self, threads),
    )
    paths = dicom_synth.write_series(tmp_path / "s", "jpeg_lossless_sv1", 8, 32)
    image = read_image(tmp_path / "s")
    assert started == [("imagecodecs", 1)]  # one more thread beside the calling one
    np.testing.assert_array_equal(image.array, _pydicom_volume(paths))


@pytest.mark.parametrize("syntax", ["jpeg_lossless_sv1", "j2k_lossless", "rle", "explicit_le"])
def test_a_series_with_one_corrupt_slice_shows_the_rest(tmp_path: Path, syntax: str) -> None:
    paths = dicom_synth.write_series(tmp_path / "s", syntax, 8, 32, corrupt=3)
    image = read_image(tmp_path / "s")
    assert image.shape[0] == 7
    good = [p for k, p in enumerate(paths) if k != 3]
    np.testing.assert_array_equal(image.array, _pydicom_volume(good))
    assert any(paths[3].name in w for w in image.metadata["warnings"])


def test_peak_memory_is_the_volume_plus_a_few_slices(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MEDVIEW_DECODE_THREADS", "2")
    dicom_synth.write_series(tmp_path / "s", "jpeg_lossless_sv1", 40, 128)
    read_image(tmp_path / "s")  # imports and codec set-up out of the measurement
    tracemalloc.start()
    try:
        image = read_image(tmp_path / "s")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    volume = image.array.nbytes
    slice_bytes = volume // 40
    # A list of decoded slices and then a stack would peak at two volumes and more.
    assert peak < volume + 12 * slice_bytes, (peak, volume)


def test_gather_in_place_is_fancy_indexing_without_a_copy() -> None:
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 1000, (9, 3, 2)).astype(np.int16)
    order = [int(i) for i in rng.permutation(9)[:7]]  # two slots dropped (skipped files)
    expected = volume[order].copy()
    result = dicom.gather_in_place(volume, order)
    np.testing.assert_array_equal(result, expected)
    assert np.shares_memory(result, volume)


def test_focus_decodes_nearest_slices_first(tmp_path: Path) -> None:
    paths = dicom_synth.write_series(tmp_path / "s", "jpeg_lossless_sv1", 9, 16)
    seen: list[int] = []
    decoder = dicom_volume.SeriesDecoder([str(p) for p in paths], on_slice=seen.append)
    decoder.first_slice(6)
    decoder.run(threads=1)
    assert seen[0] == 6
    assert [abs(i - 6) for i in seen] == sorted(abs(i - 6) for i in seen)


def test_cancel_stops_decoding(tmp_path: Path) -> None:
    paths = dicom_synth.write_series(tmp_path / "s", "jpeg_lossless_sv1", 12, 16)
    decoder = dicom_volume.SeriesDecoder([str(p) for p in paths])
    decoder.on_slice = lambda index: decoder.cancel()
    decoder.first_slice(5)
    decoder.run(threads=1)
    assert decoder.done_count == 1 and decoder.cancelled
    assert dicom.finish_volume(decoder, tmp_path) is None  # never a partial volume as whole
