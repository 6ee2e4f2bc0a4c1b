"""Where a run goes (`--on`): this computer, a Dask scheduler at an address, or a cluster
medview starts on this computer's loopback. A plain ``tcp://`` address that is not loopback is
refused: the tensors, labels and weights would cross the network unencrypted.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from medview.core.errors import MedviewError

LOCAL = "local"  # today's path: the folds train in this process
LOCAL_CLUSTER = "local-cluster"  # `local-cluster:N`: N one-thread worker processes on 127.0.0.1
SLURM = "slurm"  # workers as SLURM jobs (training/cluster/slurm.py)
SSH = "ssh"  # `ssh://HOST[,HOST...]`: scheduler and workers started over SSH (cluster/ssh.py)


class ClusterError(MedviewError):
    """The cluster cannot be used as given (address, security, connection)."""


@dataclass(frozen=True)
class Target:
    """A parsed ``--on``: ``kind`` is local | local-cluster | address | slurm | ssh."""

    kind: str
    address: str = ""
    workers: int = 0
    hosts: tuple[str, ...] = ()  # ssh: the scheduler's host first

    @property
    def is_local(self) -> bool:
        return self.kind == LOCAL


def parse_target(text: str | None) -> Target:
    """``local`` (or nothing), ``local-cluster[:N]``, ``slurm``, ``ssh://HOST[,HOST...]``,
    ``tcp://HOST:PORT`` or ``tls://HOST:PORT``."""
    text = (text or LOCAL).strip()
    if text == LOCAL:
        return Target(LOCAL)
    if text == LOCAL_CLUSTER or text.startswith(LOCAL_CLUSTER + ":"):
        count = text.partition(":")[2] or "2"
        if not count.isdigit() or int(count) < 1:
            raise ClusterError(f"--on {text}: the number of workers must be a whole number >= 1")
        return Target(LOCAL_CLUSTER, workers=int(count))
    if text == SLURM:
        return Target(SLURM)
    if text.startswith("ssh://"):
        hosts = tuple(h.strip() for h in text.removeprefix("ssh://").split(",") if h.strip())
        if not hosts:
            raise ClusterError(f"--on {text}: name the host(s): ssh://HOST[,HOST...]")
        return Target(SSH, hosts=hosts)
    parts = urlsplit(text)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or not parts.port:
        raise ClusterError(
            f"--on {text}: give local, local-cluster:N, slurm, ssh://HOST, "
            "tcp://127.0.0.1:PORT or tls://HOST:PORT"
        )
    if parts.scheme == "tcp" and not is_loopback(parts.hostname):
        raise ClusterError(_tunnel_advice(parts.netloc.rpartition(":")[0], parts.port))
    return Target("address", address=text)


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is this computer's loopback."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    if host == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # unknown: treat as another host
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _tunnel_advice(host: str, port: int) -> str:
    """``host`` as written in the address ([...] around an IPv6 one)."""
    return (
        f"--on tcp://{host}:{port}: plain tcp:// to another computer is refused (the data and "
        "weights would travel unencrypted). Tunnel it through SSH and use loopback: "
        f"`ssh -N -L {port}:localhost:{port} you@{host.strip('[]')}` in another terminal, then "
        f"`--on tcp://127.0.0.1:{port}`; or use tls://{host}:{port} with --tls-ca, "
        "--tls-cert and --tls-key"
    )


# The key of a training job's config that carries the window's "Run on" (an ``--on`` value).
RUN_ON = "run_on"
