"""Endpoint descriptions: Twisted's string syntax parsed into frozen, persistable data."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from appcore import (
    ExitCode,
    SSLClientEndpoint,
    SSLServerEndpoint,
    SystemdServerEndpoint,
    TCPClientEndpoint,
    TCPServerEndpoint,
    UDPServerEndpoint,
    UNIXClientEndpoint,
    UNIXServerEndpoint,
    UsageError,
    parse_client_endpoint,
    parse_server_endpoint,
)
from appcore.net._endpoints import split_description


def test_tcp_server_with_options() -> None:
    endpoint = parse_server_endpoint("tcp:8080:interface=127.0.0.1:backlog=5")
    assert endpoint == TCPServerEndpoint(
        description="tcp:8080:interface=127.0.0.1:backlog=5",
        port=8080,
        interface="127.0.0.1",
        backlog=5,
    )
    assert str(endpoint) == "tcp:8080:interface=127.0.0.1:backlog=5"


def test_bare_number_is_a_tcp_port() -> None:
    endpoint = parse_server_endpoint("8080")
    assert isinstance(endpoint, TCPServerEndpoint)
    assert (endpoint.port, endpoint.interface, endpoint.ipv6) == (8080, "", False)


def test_positional_arguments_follow_twisted_order() -> None:
    endpoint = parse_server_endpoint("tcp:8080:127.0.0.1:7")
    assert isinstance(endpoint, TCPServerEndpoint)
    assert (endpoint.interface, endpoint.backlog) == ("127.0.0.1", 7)


def test_tcp6_with_escaped_colons() -> None:
    endpoint = parse_server_endpoint(r"tcp6:8080:interface=\:\:1")
    assert isinstance(endpoint, TCPServerEndpoint)
    assert (endpoint.interface, endpoint.ipv6) == ("::1", True)
    default = parse_server_endpoint("tcp6:80")
    assert isinstance(default, TCPServerEndpoint)
    assert default.interface == "::"


def test_unix_server() -> None:
    endpoint = parse_server_endpoint("unix:/run/x.sock:mode=660:lockfile=1")
    assert endpoint == UNIXServerEndpoint(
        description="unix:/run/x.sock:mode=660:lockfile=1",
        path="/run/x.sock",
        mode=0o660,
        lockfile=True,
    )
    twisted_spelling = parse_server_endpoint("unix:address=/tmp/a\\:b.sock")
    assert isinstance(twisted_spelling, UNIXServerEndpoint)
    assert twisted_spelling.path == "/tmp/a:b.sock"
    assert twisted_spelling.mode == 0o666


def test_ssl_server() -> None:
    text = "ssl:8443:privateKey=key.pem:certKey=cert.pem:extraCertChain=chain.pem:dhParameters=dh"
    endpoint = parse_server_endpoint(text)
    assert endpoint == SSLServerEndpoint(
        description=text,
        port=8443,
        private_key="key.pem",
        cert_key="cert.pem",
        extra_cert_chain="chain.pem",
        dh_parameters="dh",
    )


def test_udp_and_systemd() -> None:
    udp = parse_server_endpoint("udp:9999:interface=127.0.0.1")
    assert udp == UDPServerEndpoint(
        description="udp:9999:interface=127.0.0.1", port=9999, interface="127.0.0.1"
    )
    systemd = parse_server_endpoint("systemd:domain=inet6:index=2")
    assert isinstance(systemd, SystemdServerEndpoint)
    assert (systemd.domain, systemd.index, systemd.fileno) == ("INET6", 2, 5)


def test_client_endpoints() -> None:
    assert parse_client_endpoint("tcp:host=127.0.0.1:port=8080") == TCPClientEndpoint(
        description="tcp:host=127.0.0.1:port=8080", host="127.0.0.1", port=8080
    )
    assert parse_client_endpoint("tcp:127.0.0.1:8080") == TCPClientEndpoint(
        description="tcp:127.0.0.1:8080", host="127.0.0.1", port=8080
    )
    positional = parse_client_endpoint("tcp:example.org:80:timeout=2.5")
    assert isinstance(positional, TCPClientEndpoint)
    assert (positional.host, positional.port, positional.timeout) == ("example.org", 80, 2.5)
    unix = parse_client_endpoint("unix:path=/x.sock")
    assert isinstance(unix, UNIXClientEndpoint)
    assert unix.path == "/x.sock"
    tls = parse_client_endpoint("ssl:host=example.org:port=443:caCerts=ca.pem")
    assert isinstance(tls, SSLClientEndpoint)
    assert (tls.host, tls.port, tls.ca_certs) == ("example.org", 443, "ca.pem")


def test_split_keeps_escaped_equals_and_colons() -> None:
    args, kwargs = split_description(r"unix:/tmp/a\=b\:c:mode=600:key=x=y")
    assert args == ["unix", "/tmp/a=b:c"]
    assert kwargs == {"mode": "600", "key": "x=y"}


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("tcp:notaport", "'notaport'"),
        ("tcp:70000", "'70000'"),
        ("tcp:-1", "'-1'"),
        ("bogus:80", "unknown server kind 'bogus'"),
        ("tcp:80:colour=blue", "unknown option 'colour'"),
        ("tcp:80:interface=localhost", "IP address"),
        ("tcp6:80:interface=127.0.0.1", "IPv6"),
        ("tcp:80:backlog=0", "backlog"),
        ("tcp:80:port=81", "'port' is given twice"),
        ("tcp:80:1.2.3.4:5:6", "too many positional"),
        ("unix:/x:mode=999", "mode"),
        ("unix:/x:lockfile=maybe", "'maybe'"),
        ("ssl:443", "needs privateKey"),
        ("systemd:domain=IPX", "'IPX'"),
        ("systemd:index=0", "needs domain"),
        ("udp", "needs port"),
        ("tcp:80\\", "backslash"),
        ("", "empty"),
        ("tcp:=1", "'='"),
    ],
)
def test_malformed_server_endpoints(text: str, names: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_server_endpoint(text)
    message = caught.value.message
    assert names in message
    assert "\n" not in message
    assert caught.value.exit_code == ExitCode.USAGE
    assert int(caught.value.exit_code) == 64


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("tcp:host=a:port=0", "from 1 to 65535"),
        ("tcp:host=a", "needs port"),
        ("tcp:a:80:timeout=0", "timeout"),
        ("udp:a:80", "unknown client kind 'udp'"),
        ("unix:path=/x:checkPID=1", "unknown option 'checkPID'"),
    ],
)
def test_malformed_client_endpoints(text: str, names: str) -> None:
    with pytest.raises(UsageError, match=names):
        parse_client_endpoint(text)


def test_endpoints_are_frozen_and_persist_with_their_text() -> None:
    endpoint = parse_server_endpoint(r"tcp6:0:interface=\:\:1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        endpoint.description = "x"  # type: ignore[misc]
    state = endpoint.__getstate__()
    assert state["description"] == r"tcp6:0:interface=\:\:1"
    assert pickle.loads(pickle.dumps(endpoint)) == endpoint


def test_local_only_fills_in_this_machine_for_every_kind() -> None:
    cases = {
        "tcp:4040": ("interface", "127.0.0.1", "tcp:4040:interface=127.0.0.1"),
        "4040": ("interface", "127.0.0.1", "tcp:4040:interface=127.0.0.1"),
        "tcp6:4040": ("interface", "::1", r"tcp6:4040:interface=\:\:1"),
        "ssl:4040:privateKey=k.pem": (
            "interface",
            "127.0.0.1",
            "ssl:4040:privateKey=k.pem:interface=127.0.0.1",
        ),
        "udp:4040": ("interface", "127.0.0.1", "udp:4040:interface=127.0.0.1"),
        "unix:/run/m.sock": ("mode", 0o600, "unix:/run/m.sock:mode=600"),
    }
    for text, (field, value, description) in cases.items():
        endpoint = parse_server_endpoint(text, local_only=True)
        assert getattr(endpoint, field) == value, text
        assert endpoint.description == description
        # The description says what it is: parsing it again gives the same endpoint.
        assert parse_server_endpoint(endpoint.description) == endpoint
    # Spelled out, it stays, positional or by name.
    assert parse_server_endpoint("tcp:4040:0.0.0.0", local_only=True).interface == "0.0.0.0"  # type: ignore[attr-defined]
    assert parse_server_endpoint("unix:/x:mode=660", local_only=True).mode == 0o660  # type: ignore[attr-defined]
    # Without it, the defaults are unchanged.
    assert parse_server_endpoint("ssl:4040:privateKey=k.pem").interface == ""  # type: ignore[attr-defined]
    assert parse_server_endpoint("unix:/run/m.sock").mode == 0o666  # type: ignore[attr-defined]
