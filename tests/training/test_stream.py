"""The streamed training path (issue 17): a small memory budget set through the environment
forces it on a generated project; it trains on exactly what the in-memory path trains on; its
disk cache is reused, rebuilt when cut short, and a full disk ends the run cleanly."""

from __future__ import annotations

import csv
import errno
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from projects import make_project

from training import stream_cache
from training.api import run_training
from training.config import TrainConfig
from training.stream_codec import decode, encode, roundtrip
from training.stream_data import data_mode
from training.transforms import PrepSettings

TINY = dict(model="cnn3d_small", folds=2, epochs=2, batch_size=4, size=16, lr=3e-3, threads=1)
TINY |= dict(augment="strong", auto=False, device="cpu", predict_unlabelled=False, seed=3)


@pytest.fixture()
def project_folder(tmp_path: Path) -> Path:
    project = make_project(tmp_path, 12, test=2)
    folder = project.folder
    project.close()
    return folder


def _run(folder: Path, run_id: str, **kw):
    outcome = run_training(TrainConfig(project=str(folder), run_id=run_id, **{**TINY, **kw}))
    assert outcome.status == "finished", outcome.error
    return outcome


def _predictions(folder: Path, run_id: str) -> list[dict[str, str]]:
    with (folder / "runs" / run_id / "predictions.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def _log(folder: Path, run_id: str) -> str:
    return (folder / "runs" / run_id / "log.txt").read_text()


def _shards(folder: Path) -> list[Path]:
    return sorted((folder / "cache" / "stream").glob("*/*.bin"))


def test_codec_keeps_8_bit_levels_exactly_and_the_rest_at_float16_precision():
    rng = np.random.default_rng(0)
    levels = rng.integers(3, 250, (8, 8, 8)).astype(np.float32)
    zscored = (levels - levels.mean()) / levels.std()
    enc = encode(zscored)
    assert enc.codec == "uint8" and enc.raw.dtype == np.uint8
    assert np.abs(decode(*[enc.raw, enc.codec, enc.scale, enc.shift]) - zscored).max() < 1e-5
    smooth = rng.normal(size=(8, 8, 8)).astype(np.float32)
    assert encode(smooth).codec == "float16"
    assert np.array_equal(roundtrip(smooth), smooth.astype(np.float16).astype(np.float32))
    assert encode(np.full((4, 4), 2.5, np.float32)).codec == "uint8"  # constant: exact
    assert np.array_equal(roundtrip(np.full((4, 4), 2.5, np.float32)), np.full((4, 4), 2.5))


def test_the_memory_budget_chooses_the_path(monkeypatch: pytest.MonkeyPatch):
    prep = PrepSettings(3, 64, 1)  # 1 MiB per item as float32
    monkeypatch.setenv("MEDVIEW_TRAIN_MEMORY_MB", "10")
    assert data_mode("auto", 8, prep)[0] == "memory"
    mode, why = data_mode("auto", 20, prep)
    assert mode == "stream" and "MEDVIEW_TRAIN_MEMORY_MB" in why
    assert data_mode("memory", 20, prep)[0] == "memory"  # asked for: refused later, not streamed
    assert data_mode("stream", 1, prep)[0] == "stream"


def test_stream_run_equals_the_memory_run_and_reuses_its_cache(
    project_folder: Path, monkeypatch: pytest.MonkeyPatch
):
    memory = _run(project_folder, "memory", data="memory")
    monkeypatch.setenv("MEDVIEW_TRAIN_MEMORY_MB", "0.01")  # 14 items x 16 KiB do not fit
    streamed = _run(project_folder, "streamed")
    assert "streamed from the disk cache" in _log(project_folder, "streamed")
    assert "MEDVIEW_TRAIN_MEMORY_MB" in _log(project_folder, "streamed")
    # Same batches, same augmentation draws, same inputs: the same predictions and metrics.
    assert _predictions(project_folder, "streamed") == _predictions(project_folder, "memory")
    for a, b in zip(memory.metrics["folds"], streamed.metrics["folds"], strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == {
            k: v for k, v in b.items() if k != "seconds"
        }
    shards = _shards(project_folder)
    assert shards and len(shards) <= 2  # a few large files, not one per item
    stamps = {p: p.stat().st_mtime_ns for p in shards}
    calls = []
    original = stream_cache.encode
    monkeypatch.setattr(stream_cache, "encode", lambda a: calls.append(1) or original(a))
    _run(project_folder, "again")
    assert not calls and {p: p.stat().st_mtime_ns for p in _shards(project_folder)} == stamps
    assert "(14 from cache)" in _log(project_folder, "again")


def test_a_cache_cut_short_is_detected_and_rebuilt(
    project_folder: Path, monkeypatch: pytest.MonkeyPatch
):
    _run(project_folder, "first", data="stream", epochs=1)
    (shard,) = _shards(project_folder)
    with shard.open("r+b") as fh:  # what a killed run, or a crash mid-copy, leaves
        fh.truncate(shard.stat().st_size // 2)
    # A run killed while writing leaves only a temp file, which is never read.
    (shard.parent / ("f" * 24 + ".bin.tmp")).write_bytes(b"\0" * 100)
    _run(project_folder, "second", data="stream", epochs=1)
    log = _log(project_folder, "second")
    assert "damaged; rebuilt" in log and "(0 from cache)" in log
    (rebuilt,) = _shards(project_folder)
    assert rebuilt != shard and not shard.exists()


def test_a_full_disk_ends_the_run_cleanly_and_leaves_nothing_to_trust(
    project_folder: Path, monkeypatch: pytest.MonkeyPatch
):
    real_add = stream_cache.ShardWriter.add
    written = []

    def add(self, key, enc):
        if len(written) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(key)
        return real_add(self, key, enc)

    monkeypatch.setattr(stream_cache.ShardWriter, "add", add)
    cfg = TrainConfig(project=str(project_folder), run_id="full", data="stream", **TINY)
    outcome = run_training(cfg)
    assert outcome.status == "failed" and "ran out of space" in (outcome.error or "")
    assert "cache" in (outcome.error or "") and "Traceback" not in (outcome.error or "")
    leftovers = [p.name for p in (project_folder / "cache" / "stream").rglob("*") if p.is_file()]
    assert all(name == ".medview-cache" for name in leftovers), leftovers
    metrics = json.loads((project_folder / "runs" / "full" / "config.json").read_text())
    assert metrics["data"] == "stream"
    monkeypatch.setattr(stream_cache.ShardWriter, "add", real_add)
    _run(project_folder, "after", data="stream", epochs=1)  # nothing half-written was reused


def test_writing_the_cache_reports_progress_and_can_be_cancelled(tmp_path: Path):
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(1, 8, 8, 8)).astype(np.float32) for _ in range(20)]
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))

    result = stream_cache.build_store(
        tmp_path, "g", (1, 8, 8, 8), [f"k{i}" for i in range(20)], lambda k: (arrays[k], None),
        progress=progress, should_cancel=lambda: len(seen) >= 6, workers=1,
    )  # fmt: skip
    assert result.cancelled and 6 <= len(result.kept) < 20 and seen[0] == (1, 20)
    again = stream_cache.build_store(
        tmp_path, "g", (1, 8, 8, 8), [f"k{i}" for i in range(20)], lambda k: (arrays[k], None)
    )
    # What was written before the cancel is kept and valid; the rest is written now.
    assert again.hits == len(result.kept) and len(again.kept) == 20
    batch = again.store.batch([19, 0])
    assert torch.equal(batch[0], torch.from_numpy(roundtrip(arrays[19])))
    again.store.close()
    result.store.close()


# ---------------------------------------------------------------- CUDA branches, mocked
class _FakeStream:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    def wait_stream(self, other: _FakeStream) -> None:
        self.log.append(f"{self.name} waits for {other.name}")


class _FakeCuda:
    """The few torch.cuda calls DeviceFeeder and EpochGpuStats make, recorded."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.current = _FakeStream(self.log, "main")
        self.in_side = False

    def Stream(self, device):  # noqa: N802 - torch.cuda's name
        return _FakeStream(self.log, "side")

    def stream(self, s):
        fake = self

        class _Ctx:
            def __enter__(self):
                fake.in_side = True

            def __exit__(self, *exc):
                fake.in_side = False

        return _Ctx()

    def current_stream(self, device):
        return self.current

    def reset_peak_memory_stats(self, device):
        self.log.append("reset")

    def max_memory_allocated(self, device):
        return 300 * 2**20


class _FakeBatch:
    def __init__(self, n: int, cuda: _FakeCuda) -> None:
        self.n, self.cuda = n, cuda

    def to(self, device, non_blocking=False):
        assert non_blocking and self.cuda.in_side  # an async copy on the side stream
        self.cuda.log.append(f"copy {self.n}")
        return self

    def record_stream(self, s):
        self.cuda.log.append(f"use {self.n}")


def test_device_feeder_keeps_one_batch_in_flight_with_async_copies():
    from training.stream_loader import DeviceFeeder

    cuda = _FakeCuda()
    feeder = DeviceFeeder(torch.device("cpu"), cuda=cuda)
    pairs = ((torch.tensor([n]), _FakeBatch(n, cuda)) for n in range(3))
    for idx, batch in feeder.feed(pairs):
        cuda.log.append(f"train {int(idx)}")
        assert batch.n == int(idx)
    # The copy of batch k+1 is issued before batch k trains; each waits for its copy.
    assert cuda.log == [
        "copy 0", "copy 1", "main waits for side", "use 0", "train 0",
        "copy 2", "main waits for side", "use 1", "train 1",
        "main waits for side", "use 2", "train 2",
    ]  # fmt: skip


def test_the_stream_pins_batches_on_cuda_and_augments_there(tmp_path: Path, monkeypatch):
    from training import stream_loader

    arrays = [np.full((1, 4, 4), k, np.float32) for k in range(6)]
    built = stream_cache.build_store(
        tmp_path, "g", (1, 4, 4), [f"k{i}" for i in range(6)], lambda k: (arrays[k], None)
    )
    pinned, fed, augmented = [], [], []
    real_batch = type(built.store).batch
    monkeypatch.setattr(
        type(built.store), "batch", lambda s, i, pin=False: pinned.append(pin) or real_batch(s, i)
    )

    class Feeder:
        def __init__(self, device):
            pass

        def feed(self, pairs):
            for pair in pairs:
                fed.append(pair)
                yield pair

    monkeypatch.setattr(stream_loader, "DeviceFeeder", Feeder)

    def augment(batch):
        augmented.append(threading_name())
        return batch + 1

    out = list(
        stream_loader.stream_batches(
            built.store, [torch.tensor([0, 1]), torch.tensor([5])], torch.device("cuda"), augment
        )
    )
    assert pinned == [True, True] and len(fed) == 2
    assert augmented == ["MainThread", "MainThread"]  # after the upload: on the GPU
    assert torch.equal(out[1][1], torch.full((1, 1, 4, 4), 6.0))
    built.store.close()


def threading_name() -> str:
    import threading

    return threading.current_thread().name


def test_gpu_columns_on_cuda_only(tmp_path: Path):
    from medview.core.run_folder import read_history_csv, write_history_csv
    from training.gpu_stats import EpochGpuStats

    class Rates:
        gpu = 80.0

    class Nvml:
        def nvmlInit(self):  # noqa: N802 - NVML's names
            pass

        def nvmlDeviceGetHandleByIndex(self, index):  # noqa: N802
            return "handle"

        def nvmlDeviceGetUtilizationRates(self, handle):  # noqa: N802
            return Rates()

    cuda = _FakeCuda()
    stats = EpochGpuStats(torch.device("cuda", 0), cuda=cuda, nvml=Nvml())
    stats.start()
    stats.samples = [60.0, 80.0]  # what the sampling thread collects every half second
    assert stats.stop() == {"gpu_peak_memory_mb": 300.0, "gpu_utilization": 70.0}
    assert cuda.log == ["reset"]
    no_nvml = EpochGpuStats(torch.device("cuda", 0), cuda=_FakeCuda(), nvml=object())
    no_nvml.start()
    assert no_nvml.stop() == {"gpu_peak_memory_mb": 300.0}  # utilisation omitted, not guessed
    assert EpochGpuStats(torch.device("cpu")).stop() == {}
    path = tmp_path / "history.csv"
    write_history_csv(path, [{"fold": 1, "epoch": 1, "train_loss": 0.5}])
    assert "gpu" not in path.read_text()
    write_history_csv(path, [{"fold": 1, "epoch": 1, "gpu_peak_memory_mb": 300.0}])
    assert read_history_csv(path)[0]["gpu_peak_memory_mb"] == 300.0


def test_the_cache_is_held_to_its_budget(tmp_path: Path):
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(1, 16, 16, 16)).astype(np.float32) for _ in range(8)]
    keys = [f"k{i}" for i in range(8)]
    one_group = 8 * 16**3 * 2  # float16 bytes of the 8 items
    old = stream_cache.build_store(
        tmp_path, "old", (1, 16, 16, 16), keys, lambda k: (arrays[k], None)
    )
    old.store.close()
    new = stream_cache.build_store(
        tmp_path, "new", (1, 16, 16, 16), keys, lambda k: (arrays[k], None), budget=one_group
    )
    # The least recently used group went; the run's own shards stay.
    assert not list((tmp_path / "old").glob("*.bin")) and list((tmp_path / "new").glob("*.bin"))
    assert torch.equal(new.store.batch([3])[0], torch.from_numpy(roundtrip(arrays[3])))
    new.store.close()
    # A run whose own items exceed the budget gets a private store, gone when it ends.
    big = stream_cache.build_store(
        tmp_path, "big", (1, 16, 16, 16), keys, lambda k: (arrays[k], None), budget=one_group // 2
    )
    assert big.store.private_dir is not None and any("only" in n for n in big.notes)
    private = big.store.private_dir
    assert len(big.kept) == 8 and private.is_dir()
    big.store.close()
    assert not private.exists() and not list((tmp_path / "big").iterdir())


def test_unlabelled_items_stream_to_the_ensemble_too(tmp_path: Path, monkeypatch):
    project = make_project(tmp_path, 8, unlabelled=3)
    folder = project.folder
    project.close()
    monkeypatch.setenv("MEDVIEW_TRAIN_MEMORY_MB", "0.01")
    _run(folder, "unl", predict_unlabelled=True, epochs=1)
    rows = _predictions(folder, "unl")
    assert sum(1 for r in rows if r["fold"] == "0" and not r["true"]) == 3
    assert not list((folder / "cache" / "stream").glob("run-*"))  # private stores removed
    _run(folder, "no-cache", data="stream", cache=False, epochs=1)  # --no-cache: private too
    assert "(0 from cache)" in _log(folder, "no-cache")
    assert not list((folder / "cache" / "stream").glob("run-*"))


def test_on_cuda_a_store_that_fits_is_uploaded_whole(tmp_path: Path, monkeypatch):
    from training import batches as loop

    arrays = [np.full((1, 4, 4), k, np.float32) for k in range(6)]
    built = stream_cache.build_store(
        tmp_path, "g", (1, 4, 4), [f"k{i}" for i in range(6)], lambda k: (arrays[k], None)
    )
    uploads = []
    monkeypatch.setattr(loop, "upload_store", lambda s, d: uploads.append(d) or "on the GPU")
    ctx = loop.Context(torch.empty(0, 1, 4, 4), torch.zeros(6), 2, torch.device("cuda"))
    ctx.store = built.store
    for free, uploaded in ((10**9, True), (6 * 64 * 3, False)):  # 6 items x 64 B float32
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda d, f=free: (f, f))
        ctx.x_device = None
        loop.stage_data(ctx)
        assert (ctx.x_device == "on the GPU") is uploaded
    assert len(uploads) == 1  # too little free memory: streamed with pinned copies instead
    built.store.close()


def test_cancel_during_a_streamed_epoch_stops_the_loader(project_folder: Path):
    import threading

    from medview.core import messages as msg

    epochs: list[msg.Epoch] = []
    cfg = TrainConfig(project=str(project_folder), run_id="cancel", data="stream", **TINY)
    outcome = run_training(
        cfg, lambda m: epochs.append(m) if isinstance(m, msg.Epoch) else None, lambda: bool(epochs)
    )
    assert outcome.status == "cancelled" and len(epochs) == 1
    alive = [t for t in threading.enumerate() if t.name == "medview-stream"]
    for thread in alive:
        thread.join(timeout=5)
    assert not any(t.is_alive() for t in alive)
