"""Batches from the streaming cache, prepared off the training thread.

One background thread reads each batch from the memory-mapped cache (``StreamStore.batch``),
decodes it to float32 and, on the CPU, applies the training augmentation, ``depth`` batches
ahead of the training step. Why a thread and not DataLoader worker processes: the work
releases the GIL (numpy's decode loops, the page faults inside them, torch's grid-sample),
and one thread consumes the augmentation's random generator in batch order, so a streamed run
draws exactly what the in-memory run draws (worker processes would each hold a copy of the
generator). ``bench/stream.py`` measures both loaders.

On CUDA the thread decodes into pinned memory; ``DeviceFeeder`` copies each batch with
``non_blocking`` on a side stream one batch ahead (one batch in flight while the current one
trains), and augmentation then runs on the GPU (MONAI's affine warp takes CUDA tensors).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from training.stream_shards import StreamStore

DEPTH = 2  # batches prepared ahead: enough to hide a read, small enough to bound memory
Pair = tuple[torch.Tensor, torch.Tensor]  # (indices, batch)


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()


def _put(q: queue.Queue[Any], value: Any, stop: threading.Event) -> bool:
    """Put, waking up to notice a consumer that went away (a cancel, an early stop)."""
    while not stop.is_set():
        try:
            q.put(value, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def prefetch(
    make: Callable[[torch.Tensor], torch.Tensor],
    index_batches: Iterable[torch.Tensor],
    depth: int = DEPTH,
) -> Iterator[Pair]:
    """``(idx, make(idx))`` in order, made by one thread at most ``depth`` ahead. An error in
    the thread is raised here; closing the iterator stops the thread."""
    q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def work() -> None:
        try:
            for idx in index_batches:
                if not _put(q, (idx, make(idx)), stop):
                    return
            _put(q, _END, stop)
        except BaseException as exc:  # handed to the training thread, raised there
            _put(q, _Failure(exc), stop)

    thread = threading.Thread(target=work, name="medview-stream", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not _END:
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


class DeviceFeeder:
    """Copies pinned CPU batches to a CUDA device one batch ahead, on a side stream, so the
    copy of batch k+1 overlaps the training step of batch k. ``cuda`` is ``torch.cuda``
    (a test passes a stand-in: this machine class has no GPU)."""

    def __init__(self, device: torch.device, cuda: Any = None) -> None:
        self.device = device
        self.cuda = cuda if cuda is not None else torch.cuda
        self.side = self.cuda.Stream(device)

    def _upload(self, batch: torch.Tensor) -> torch.Tensor:
        with self.cuda.stream(self.side):
            return batch.to(self.device, non_blocking=True)

    def _ready(self, batch: torch.Tensor) -> torch.Tensor:
        current = self.cuda.current_stream(self.device)
        current.wait_stream(self.side)  # the copy is done before the step reads it
        batch.record_stream(current)  # and its memory is not reused while the step runs
        return batch

    def feed(self, pairs: Iterable[Pair]) -> Iterator[Pair]:
        ahead: Pair | None = None
        for idx, batch in pairs:
            moved = (idx, self._upload(batch))
            if ahead is not None:
                yield ahead[0], self._ready(ahead[1])
            ahead = moved
        if ahead is not None:
            yield ahead[0], self._ready(ahead[1])


def stream_batches(
    store: StreamStore,
    index_batches: Iterable[torch.Tensor],
    device: torch.device,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    depth: int = DEPTH,
) -> Iterator[Pair]:
    """Training (``augment`` given) or evaluation batches of ``store`` on ``device``."""
    cuda = device.type == "cuda"

    def make(idx: torch.Tensor) -> torch.Tensor:
        batch = store.batch(idx, pin=cuda)
        if augment is not None and not cuda:
            batch = augment(batch)
        return batch

    pairs = prefetch(make, index_batches, depth)
    if not cuda:
        yield from pairs
        return
    for idx, batch in DeviceFeeder(device).feed(pairs):
        yield idx, (augment(batch) if augment is not None else batch)


def upload_store(store: StreamStore, device: torch.device, chunk: int = 32) -> torch.Tensor:
    """The whole store as one float32 tensor on ``device`` (it fits: the caller checked),
    copied a chunk at a time so host memory stays at one chunk."""
    out = torch.empty((len(store), *store.item_shape), dtype=torch.float32, device=device)
    for start in range(0, len(store), chunk):
        stop = min(start + chunk, len(store))
        out[start:stop] = store.batch(range(start, stop), pin=device.type == "cuda").to(device)
    return out
