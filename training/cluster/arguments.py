"""`medview train --on ...`: the flags that say where the folds train, and the fold runner
they make. No torch or Dask here (``medview --help`` stays fast); the runner imports them.
"""

from __future__ import annotations

import argparse
from typing import Any

from training.cluster.slurm import add_slurm_arguments, slurm_options
from training.recipe.cluster_address import (
    SLURM,
    SSH,
    ClusterError,
    Target,
    parse_target,
)


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("where the folds train (docs/cluster.md)")
    g.add_argument(
        "--on",
        metavar="WHERE",
        default="local",
        help="local (this computer, the default); local-cluster:N (N worker processes on "
        "127.0.0.1); tcp://127.0.0.1:PORT (a Dask scheduler here, or one reached through an "
        "SSH tunnel); tls://HOST:PORT (a Dask scheduler elsewhere, with --tls-*); "
        "ssh://HOST[,HOST...] (started over SSH); slurm (workers as SLURM jobs)",
    )
    add_slurm_arguments(g)
    g.add_argument("--ssh-gpus", type=int, default=0, help="SSH: GPUs per host (0: CPU)")
    g.add_argument("--tls-ca", metavar="FILE", help="TLS: the certificate authority's file")
    g.add_argument("--tls-cert", metavar="FILE", help="TLS: this client's certificate")
    g.add_argument("--tls-key", metavar="FILE", help="TLS: this client's private key")


def fold_runner_for(on: str | None) -> Any:
    """The fold runner for a ``--on`` value alone (the window's choice; TLS from Dask's
    configuration, SLURM and SSH with their defaults)."""
    parser = argparse.ArgumentParser()
    add_cluster_arguments(parser)
    return fold_runner_from_args(parser.parse_args(["--on", on or "local"]))


def fold_runner_from_args(args: argparse.Namespace) -> Any:
    """None for this computer (today's path), else a ``ClusterFolds``."""
    target = parse_target(getattr(args, "on", None))
    if target.is_local:
        return None
    from training.cluster.driver import ClusterFolds

    return ClusterFolds(target, _security(args, target.address), _starter(target, args))


def _starter(target: Target, args: argparse.Namespace) -> Any:
    """What makes the cluster medview starts for the run: SLURM jobs or SSH hosts."""
    if target.kind == SLURM:
        options = slurm_options(args)

        def start_slurm() -> Any:
            from training.cluster.slurm import slurm_cluster

            cluster = slurm_cluster(options)
            cluster.scale(jobs=options.jobs)  # the jobs at once
            return cluster

        return start_slurm
    if target.kind == SSH:
        from training.cluster.ssh import SshOptions, ssh_cluster

        ssh = SshOptions(list(target.hosts), args.remote_python, args.ssh_gpus)
        return lambda: ssh_cluster(ssh)
    return None


def _security(args: argparse.Namespace, address: str) -> Any:
    """TLS files for a tls:// address (else Dask's own configuration); none for tcp://."""
    files = [getattr(args, n, None) for n in ("tls_ca", "tls_cert", "tls_key")]
    if not address.startswith("tls://"):
        if any(files):
            raise ClusterError("--tls-ca/--tls-cert/--tls-key go with a tls:// address")
        return None
    if any(files) and not all(files):
        raise ClusterError("--on tls://...: give all three of --tls-ca, --tls-cert and --tls-key")
    from distributed.security import Security

    if not any(files):
        return Security()  # Dask's configuration (distributed.comm.tls.*)
    ca, cert, key = files
    return Security(
        tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True
    )
