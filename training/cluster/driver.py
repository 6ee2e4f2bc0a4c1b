"""The client side of a cluster run: ``ClusterFolds(target)`` is a fold runner for
``training.engine.api.run_training``. It sends the tensors once, submits one Dask task per fold
(``resources={"GPU": 1}`` when the workers declare GPUs), re-emits each worker's messages as a
local run's (the ETA and fraction over the whole run), and puts each finished fold into the
run's record in fold order, writing its weights and the report as a local run does. The run
folder is therefore the one a local run writes: same files, same metrics code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from medview.core import messages as msg
from training.cluster.fold_task import (
    CHECKPOINT,
    FoldOutcome,
    FoldTask,
    checkpoint_name,
    message_of,
    run_fold_task,
)
from training.engine.data import LoadedData
from training.engine.folds import save_fold
from training.engine.loop import Cancelled, FitResult
from training.engine.models import build_model
from training.engine.run_context import RunContext, RunRecord, Splits
from training.recipe.cluster_address import LOCAL_CLUSTER, ClusterError, Target

CONNECT_TIMEOUT = "10s"
POLL_SECONDS = 0.2  # how often the client looks for messages, finished folds and a cancel


class ClusterFolds:
    """Trains the planned folds on the Dask cluster at ``target``."""

    def __init__(self, target: Target, security: Any = None, start: Any = None) -> None:
        self.target = target
        self.security = security
        self.start = start  # makes the cluster medview starts (local-cluster, SLURM, SSH)
        self.bytes_sent = 0

    def __call__(self, ctx: RunContext, data: LoadedData, splits: Splits, record: RunRecord):
        check_supported(ctx, data)
        with open_client(self.target, self.security, self.start) as client:
            self._run(client, ctx, data, splits, record)

    def _run(self, client: Any, ctx: RunContext, data: LoadedData, splits: Splits, record):
        from distributed import Event, Queue

        channel = f"medview-{ctx.run_id}-{uuid.uuid4().hex[:8]}"
        queue, cancel = Queue(f"{channel}-messages", client=client), Event(channel, client=client)
        started = time.perf_counter()
        # On every worker: a fold retried after its worker died still finds its data.
        x, y = client.scatter([data.x, data.y], broadcast=True)
        workers = len(client.scheduler_info().get("workers", {})) or 1
        self.bytes_sent = int(data.x.nbytes + data.y.nbytes) * workers
        ctx.log(
            f"sent {self.bytes_sent / 1e6:.1f} MB of tensors (item ids and labels only, no "
            f"names or paths) to {self.target.address or 'the cluster'} in "
            f"{time.perf_counter() - started:.1f} s"
        )
        futures = submit_folds(client, ctx, data, splits, channel, x, y)
        collector = Collector(ctx, record, splits, client, channel)
        try:
            pump(client, futures, queue, collector, ctx)
        except BaseException:
            cancel.set()  # the tasks see it within CANCEL_POLL_SECONDS
            client.cancel(list(futures.values()), force=True)
            raise


def check_supported(ctx: RunContext, data: LoadedData) -> None:
    """What a cluster run does not do (yet): said before anything is sent."""
    if ctx.cfg.slices:
        raise ClusterError("--on: slice mode (--slices) trains on this computer only for now")
    if data.store is not None:
        raise ClusterError("--on: a streamed run (bigger than memory) trains on this computer only")
    if ctx.dist.active:
        raise ClusterError("--on cannot be combined with torchrun (DDP)")
    if ctx.cfg.pretrained not in (None, "", "download"):
        raise ClusterError(
            f"--on: the weights file {ctx.cfg.pretrained} is not sent to the workers; "
            "use --pretrained download, or train on this computer"
        )


@contextmanager
def open_client(target: Target, security: Any = None, start: Any = None) -> Iterator[Any]:
    """A Dask client: to the cluster ``start()`` makes (closed after the run), or to the
    scheduler at ``target.address``."""
    from distributed import Client

    if target.kind == LOCAL_CLUSTER and start is None:
        start = partial(local_cluster, target.workers)
    if start is not None:
        with start() as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(target.address, security=security, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"--on {target.address}: cannot reach the Dask scheduler ({exc})"
        ) from exc
    try:
        yield client
    finally:
        client.close()


def local_cluster(workers: int) -> Any:
    """``workers`` one-thread worker processes on 127.0.0.1 only, no dashboard."""
    import multiprocessing

    from distributed import LocalCluster

    # The window's training process is daemonic, and multiprocessing refuses children to a
    # daemon. These children are this run's own and closed with it (and if this process is
    # killed, they lose their scheduler and exit), so the flag is lifted for them.
    multiprocessing.current_process()._config["daemon"] = False  # type: ignore[attr-defined]

    return LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    )  # fmt: skip


def submit_folds(
    client: Any, ctx: RunContext, data: LoadedData, splits: Splits, channel: str, x: Any, y: Any
) -> dict[int, Any]:
    """One task per fold, asking for a GPU where the workers have them."""
    cfg = dataclasses.replace(ctx.cfg, project="")
    ids = [it.id for it in data.items]
    resources = {"GPU": 1} if workers_have_gpus(client) else None
    futures = {}
    from distributed import Variable

    for fold in splits.folds:
        # Nothing to resume from yet (a task then reads this at once, without waiting).
        Variable(checkpoint_name(channel, fold.number), client=client).set({"epoch": 0})
        task = FoldTask(
            ctx.run_id, cfg, ctx.kind, ctx.model_name, list(ctx.classes), ctx.channels,
            ctx.size, ctx.prep, ids, fold, list(splits.plan.test), channel,
        )  # fmt: skip
        futures[fold.number] = client.submit(
            run_fold_task, task, x, y, key=f"{channel}-fold{fold.number}", pure=False,
            resources=resources,
        )  # fmt: skip
    return futures


def workers_have_gpus(client: Any) -> bool:
    workers = client.scheduler_info().get("workers", {}).values()
    return any((w.get("resources") or {}).get("GPU", 0) >= 1 for w in workers)


def pump(client: Any, futures: dict[int, Any], queue: Any, collector: Collector, ctx) -> None:
    """Until every fold is in: the workers' messages out, finished folds in (in fold order),
    and a cancel from the user sent on to the tasks."""
    from distributed import wait

    pending = dict(futures)
    while pending or not collector.complete:
        _drain(queue, collector)
        if ctx.should_cancel():
            raise Cancelled()
        for number, future in list(pending.items()):
            if future.done():
                collector.outcome(future.result())  # a task's error is raised here
                del pending[number]
        if pending:
            with contextlib.suppress(TimeoutError):  # none finished yet: look again
                wait(list(pending.values()), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
    _drain(queue, collector)


def _drain(queue: Any, collector: Collector) -> None:
    for data in queue.get(batch=True):
        if data.get("type") == CHECKPOINT:
            collector.checkpoint(data)
        else:
            collector.message(message_of(data))


class Collector:
    """Puts the workers' messages and finished folds into the run as a local run would."""

    def __init__(
        self, ctx: RunContext, record: RunRecord, splits: Splits, client: Any, channel: str
    ) -> None:
        self.ctx, self.record = ctx, record
        self.client, self.channel = client, channel
        self.checkpoints: dict[int, dict[str, Any]] = {}  # fold -> its last epoch's state
        self.folds = {f.number: f for f in splits.folds}
        self.order = [f.number for f in splits.folds]
        self.waiting: dict[int, FoldOutcome] = {}
        self.total_epochs = len(self.order) * ctx.epochs
        self.started = time.perf_counter()
        self.logged: set[str] = set()

    @property
    def complete(self) -> bool:
        return not self.order

    def message(self, message: msg.Message) -> None:
        if isinstance(message, msg.Epoch):
            self.record.epochs_done += 1
            done = self.record.epochs_done
            rate = (time.perf_counter() - self.started) / done
            self.ctx.emit(
                dataclasses.replace(
                    message,
                    eta_seconds=rate * max(0, self.total_epochs - done),
                    fraction_done=min(1.0, done / self.total_epochs),
                )
            )
        elif isinstance(message, msg.Log) and message.text not in self.logged:
            self.logged.add(message.text)  # each fold's worker says the model's summary again
            self.ctx.log(message.text, message.level)

    def checkpoint(self, data: dict[str, Any]) -> None:
        """A fold's state after an epoch: kept here, and where a retry of the fold finds it."""
        from distributed import Variable

        fold = int(data["fold"])
        self.checkpoints[fold] = {"epoch": data["epoch"], "state": data["state"]}
        Variable(checkpoint_name(self.channel, fold), client=self.client).set(
            self.checkpoints[fold]
        )

    def outcome(self, out: FoldOutcome) -> None:
        """A finished fold; kept until the folds before it are in, so the record (and the
        report written after each fold) has them in the order a local run has."""
        self.waiting[out.fold] = out
        while self.order and self.order[0] in self.waiting:
            self._keep(self.waiting.pop(self.order.pop(0)))

    def _keep(self, out: FoldOutcome) -> None:
        ctx, record = self.ctx, self.record
        from distributed import Variable

        Variable(checkpoint_name(self.channel, out.fold), client=self.client).delete()
        self.checkpoints.pop(out.fold, None)
        for key, value in out.header.items():
            record.header.setdefault(key, value)
        record.history += out.history
        record.rows += out.rows
        record.fold_info += out.fold_info
        record.train_samples += out.train_samples
        record.train_seconds += out.train_seconds
        record.epochs_done += ctx.epochs - out.epochs_run  # early stop: ETA shrinks
        model = build_model(ctx.model_name, len(ctx.classes), ctx.channels)
        model.load_state_dict(out.state)
        result = FitResult(out.best_epoch, out.epochs_run, {})
        save_fold(ctx, record, model, self.folds[out.fold], result)
