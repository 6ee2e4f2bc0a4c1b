"""`--on slurm`: workers as SLURM jobs through dask-jobqueue's ``SLURMCluster``, started
from a login node (or a laptop that can reach one). Each job is one worker that declares its
GPUs as a Dask resource, so each fold task (``GPU: 1``) lands on a GPU. The scheduler runs
here and must be reachable from the compute nodes, so it speaks TLS with a certificate
generated for the run (``Security.temporary()``), written where the jobs can read it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Where the run's TLS certificate is written for the jobs to read: the home folder, which
# clusters share between the login and the compute nodes.
SHARED_TLS_DIR = "~/.medview/dask"


@dataclass(frozen=True)
class SlurmOptions:
    """What a lab tells SLURM: partition, GPUs per job, walltime, account, jobs at once."""

    partition: str | None = None
    gpus_per_job: int = 1
    walltime: str = "04:00:00"
    account: str | None = None
    jobs: int = 2  # jobs at once (each one a worker)
    cores: int = 4
    memory: str = "32GB"
    python: str | None = None  # the Python of the medview environment on the compute nodes

    def cluster_kwargs(self) -> dict[str, Any]:
        """``SLURMCluster``'s arguments: one worker process per job, its GPUs a resource."""
        gpus = self.gpus_per_job
        return {
            "queue": self.partition,
            "account": self.account,
            "walltime": self.walltime,
            "cores": self.cores,
            "processes": 1,
            "memory": self.memory,
            "job_extra_directives": [f"--gres=gpu:{gpus}"] if gpus else [],
            "worker_extra_args": ["--resources", f"GPU={gpus}"] if gpus else [],
            "python": self.python,
            "job_name": "medview",
        }


def add_slurm_arguments(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--slurm-partition", help="SLURM: the partition (queue) of the jobs")
    g.add_argument("--slurm-account", help="SLURM: the account the jobs are charged to")
    g.add_argument("--slurm-walltime", default="04:00:00", help="SLURM: time limit per job")
    g.add_argument("--slurm-gpus", type=int, default=1, help="SLURM: GPUs per job")
    g.add_argument("--slurm-jobs", type=int, default=2, help="SLURM: jobs at once")
    g.add_argument(
        "--remote-python",
        metavar="PATH",
        help="SLURM/SSH: the Python of the medview environment on the other computers",
    )


def slurm_options(args: argparse.Namespace) -> SlurmOptions:
    return SlurmOptions(
        partition=args.slurm_partition, gpus_per_job=args.slurm_gpus,
        walltime=args.slurm_walltime, account=args.slurm_account, jobs=args.slurm_jobs,
        python=args.remote_python,
    )  # fmt: skip


def slurm_cluster(options: SlurmOptions, host: str | None = None) -> Any:
    """A ``SLURMCluster`` (its scheduler started here, speaking TLS); ``scale`` submits."""
    from dask_jobqueue import SLURMCluster
    from distributed.security import Security

    shared = Path(SHARED_TLS_DIR).expanduser()
    shared.mkdir(parents=True, exist_ok=True)
    scheduler = {"dashboard_address": None, **({"host": host} if host else {})}
    return SLURMCluster(
        **options.cluster_kwargs(),
        security=Security.temporary(),
        protocol="tls://",
        shared_temp_directory=str(shared),
        scheduler_options=scheduler,
    )
