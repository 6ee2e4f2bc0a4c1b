"""Where a cluster run may go (`--on`): loopback over plain tcp://, anything else over TLS
or an SSH tunnel, and what medview starts itself listens on 127.0.0.1 only."""

from __future__ import annotations

import argparse
import ipaddress

import pytest
from projects import make_project

from training.cluster.arguments import add_cluster_arguments, fold_runner_from_args
from training.recipe.cluster_address import ClusterError, is_loopback, parse_target


@pytest.mark.parametrize(
    "text",
    ["tcp://127.0.0.1:8786", "tcp://localhost:8786", "tcp://[::1]:8786", "tcp://127.0.0.9:1"],
)
def test_plain_tcp_on_loopback_is_accepted(text):
    target = parse_target(text)
    assert (target.kind, target.address) == ("address", text)


@pytest.mark.parametrize("host", ["10.0.0.5", "192.0.2.7", "[2001:db8::1]"])
def test_plain_tcp_to_another_host_is_refused_with_how_to_tunnel_it(host):
    with pytest.raises(ClusterError) as err:
        parse_target(f"tcp://{host}:8786")
    text = str(err.value)
    assert "unencrypted" in text
    assert f"ssh -N -L 8786:localhost:8786 you@{host.strip('[]')}`" in text
    assert "--on tcp://127.0.0.1:8786" in text and f"tls://{host}:8786" in text


def test_tls_to_another_host_and_the_local_choices_are_accepted():
    assert parse_target("tls://10.0.0.5:8786").address == "tls://10.0.0.5:8786"
    assert parse_target(None).is_local and parse_target("local").is_local
    assert parse_target("local-cluster:3").workers == 3
    assert parse_target("local-cluster").workers == 2
    for bad in ("local-cluster:0", "http://10.0.0.5:80", "tcp://127.0.0.1", "gpu-server"):
        with pytest.raises(ClusterError):
            parse_target(bad)


def test_a_name_is_loopback_only_when_all_its_addresses_are():
    assert is_loopback("localhost") and is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback("10.1.2.3")
    assert not is_loopback("no-such-host.invalid")  # unknown: treated as another host


def _args(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_cluster_arguments(parser)
    return parser.parse_args(list(flags))


def test_tls_files_come_all_three_and_only_with_tls(tmp_path):
    assert fold_runner_from_args(_args()) is None  # the default: this computer, today's path
    with pytest.raises(ClusterError, match="all three"):
        fold_runner_from_args(_args("--on", "tls://10.0.0.5:8786", "--tls-ca", "ca.pem"))
    with pytest.raises(ClusterError, match="go with a tls://"):
        fold_runner_from_args(_args("--on", "tcp://127.0.0.1:8786", "--tls-ca", "ca.pem"))


def test_medview_train_refuses_plain_tcp_to_another_host_before_training(tmp_path, capsys):
    from training.__main__ import main

    project = make_project(tmp_path, 4, kind="2d", size=16)
    folder = project.folder
    project.close()
    assert main([str(folder), "--on", "tcp://192.0.2.7:8786", "--epochs", "1"]) == 1
    assert "ssh -N -L 8786:localhost:8786" in capsys.readouterr().err
    assert not any((folder / "runs").glob("*"))  # no run was created


def test_a_cluster_medview_starts_listens_on_loopback_only():
    psutil = pytest.importorskip("psutil")
    from training.cluster.driver import open_client

    with open_client(parse_target("local-cluster:1")) as client:
        me = psutil.Process()
        processes = [me, *me.children(recursive=True)]
        listening = [
            c.laddr.ip
            for p in processes
            for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    assert listening and all(ipaddress.ip_address(ip).is_loopback for ip in listening), listening
