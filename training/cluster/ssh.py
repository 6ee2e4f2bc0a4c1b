"""`--on ssh://HOST[,HOST...]`: medview starts a Dask scheduler on the first host and one
worker per GPU on each host over SSH (Dask's ``SSHCluster``, through asyncssh, with the
user's ``~/.ssh`` keys or agent), and stops them after the run. Between hosts other than
loopback the cluster speaks TLS with a certificate generated for the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from training.recipe.cluster_address import is_loopback


@dataclass(frozen=True)
class SshOptions:
    hosts: list[str]  # the scheduler runs on the first
    python: str | None = None  # the medview environment's Python on the hosts
    gpus_per_host: int = 0  # one worker (GPU: 1) per GPU; 0: one CPU worker per host
    connect: dict[str, Any] = field(default_factory=dict)  # asyncssh's options (port, keys)

    @property
    def loopback(self) -> bool:
        return all(is_loopback(h) for h in self.hosts)

    def cluster_kwargs(self) -> dict[str, Any]:
        workers: dict[str, Any] = {"nthreads": 1, "n_workers": max(1, self.gpus_per_host)}
        if self.gpus_per_host:
            workers["resources"] = {"GPU": 1}
        listen: dict[str, Any] = {"port": 0, "dashboard_address": None}
        if self.loopback:  # else Dask listens on the host's network address
            listen["host"] = workers["host"] = "127.0.0.1"
        return {
            "hosts": [self.hosts[0], *self.hosts],
            "connect_options": dict(self.connect),
            "worker_options": workers,
            "scheduler_options": listen,
            "remote_python": self.python,
        }


def ssh_cluster(options: SshOptions) -> Any:
    """The ``SSHCluster`` (it connects and starts everything when created)."""
    from distributed import SSHCluster
    from distributed.security import Security

    security = None if options.loopback else Security.temporary()
    return SSHCluster(**options.cluster_kwargs(), security=security)
