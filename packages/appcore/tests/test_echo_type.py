"""The built-in ``echo`` server type, found by discovery and serving real clients."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appcore import (
    DatagramServerService,
    MultiService,
    StreamServerService,
    UsageError,
    get_service_maker,
    start_application,
    stop_application,
)


def test_echo_is_discovered_with_its_options() -> None:
    maker = get_service_maker("echo")
    assert maker.description.startswith("An echo server")
    assert "--listen" in maker.options.help_text("echo")


def test_echo_serves_tcp_udp_and_unix(arun: Callable[..., Any], tmp_path: Path) -> None:
    sock_path = tmp_path / "echo.sock"
    service = get_service_maker("echo").make_service(
        {
            "listen": [
                "tcp:0:interface=127.0.0.1",
                "udp:0:interface=127.0.0.1",
                f"unix:{sock_path}",
            ]
        }
    )
    assert isinstance(service, MultiService)
    tcp, udp, unix = list(service)
    assert isinstance(tcp, StreamServerService)
    assert isinstance(udp, DatagramServerService)
    assert isinstance(unix, StreamServerService)
    # Both stream servers share one factory object (it is persisted once).
    assert tcp.factory is unix.factory

    async def scenario() -> tuple[bytes, bytes, bytes]:
        await start_application(service)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", tcp.port)
            writer.write(b"hello tcp\n")
            tcp_answer = await reader.readline()
            writer.close()
            await writer.wait_closed()

            reader, writer = await asyncio.open_unix_connection(str(sock_path))
            writer.write(b"hello unix\n")
            unix_answer = await reader.readline()
            writer.close()
            await writer.wait_closed()

            udp_answer = await asyncio.get_running_loop().run_in_executor(
                None, _udp_round_trip, udp.port
            )
            return tcp_answer, unix_answer, udp_answer
        finally:
            await stop_application(service)

    assert arun(scenario()) == (b"hello tcp\n", b"hello unix\n", b"hello udp")


def _udp_round_trip(port: int) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"hello udp", ("127.0.0.1", port))
        data, _ = sock.recvfrom(1024)
        return data


def test_echo_rejects_a_client_endpoint() -> None:
    with pytest.raises(UsageError, match="host=127.0.0.1"):
        get_service_maker("echo").make_service({"listen": ["tcp:host=127.0.0.1:port=80"]})


def test_known_table_matches_appcore_entry_points() -> None:
    from importlib.metadata import distribution

    from appcore.plugins._discovery import GROUP, KNOWN_MAKERS

    registered = {
        ep.name: ep.value for ep in distribution("appcore").entry_points if ep.group == GROUP
    }
    assert registered == {
        name: maker for name, (dist, maker) in KNOWN_MAKERS.items() if dist == "appcore"
    }


def test_known_lookup_returns_the_discovered_maker() -> None:
    from appcore import discover_service_makers

    direct = get_service_maker("echo")
    assert discover_service_makers().makers["echo"] is direct


@pytest.mark.parametrize(
    ("tapname", "install"),
    [("web", "pip install appcore-web"), ("ssh-manhole", "pip install 'appcore-manhole[ssh]'")],
)
def test_a_known_type_not_installed_names_its_distribution(tapname: str, install: str) -> None:
    from appcore import UnavailableError

    # appcore's tests run without the plugin distributions installed
    with pytest.raises(UnavailableError, match=f"not installed: {re.escape(install)}$"):
        get_service_maker(tapname)


def test_a_file_holding_a_missing_plugin_class_names_its_distribution() -> None:
    from appcore import UnavailableError, loads

    text = (
        b'# appcore TAS 1\nSite = cls("appcore.web._site:Site", version=1)\n'
        b'_0 = make(Site, {"root": "/srv"})\napplication = _0\n'
    )
    with pytest.raises(UnavailableError, match="appcore-web distribution.*pip install appcore-web"):
        loads(text, "source")


def test_a_file_holding_a_class_from_an_absent_third_party_module_is_unavailable() -> None:
    from appcore import DataError, UnavailableError, loads

    def tas(path: str) -> bytes:
        return (
            f'# appcore TAS 1\nK = cls("{path}", version=1)\n_0 = make(K, {{}})\napplication = _0\n'
        ).encode()

    with pytest.raises(UnavailableError, match="no installed distribution provides the module"):
        loads(tas("someone_elses_server:Thing"), "source")
    # a module that exists but that no installed plugin declares stays bad data
    with pytest.raises(DataError, match="not a registered persistable class"):
        loads(tas("os:system"), "source")
