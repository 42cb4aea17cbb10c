"""Every event loop this machine offers runs the same echo services, over every transport."""

from __future__ import annotations

import asyncio
import selectors
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appcore import (
    Application,
    DatagramServerService,
    EchoDatagramFactory,
    EchoFactory,
    StreamServerService,
    available_loops,
    start_application,
    stop_application,
)

pytestmark = pytest.mark.timeout(30)

Run = Callable[..., Any]

SELECTORS = {
    "epoll": selectors.EpollSelector,
    "poll": selectors.PollSelector,
    "select": selectors.SelectSelector,
}


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.put_nowait(data)


async def _stream_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    try:
        writer.write(b"ping\n")
        return await reader.readexactly(5)
    finally:
        writer.close()


def test_the_dev_environment_offers_every_loop() -> None:
    # uvloop is installed in the dev venv; a missing loop here would hide untested code.
    assert set(available_loops()) == {"asyncio", "uvloop", "epoll", "poll", "select"}


@pytest.mark.parametrize("loop_name", available_loops())
def test_echo_services_on_every_loop(
    loop_name: str, arun: Run, tmp_path: Path, tls_files: tuple[str, str]
) -> None:
    cert, key = tls_files
    path = tmp_path / "echo.sock"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        if loop_name == "uvloop":
            assert type(loop).__module__.startswith("uvloop")
        elif loop_name in SELECTORS:
            assert isinstance(loop._selector, SELECTORS[loop_name])  # type: ignore[attr-defined]

        app = Application("loops")
        tcp = StreamServerService("tcp:0:interface=127.0.0.1", EchoFactory())
        tls = StreamServerService(
            f"ssl:0:privateKey={key}:certKey={cert}:interface=127.0.0.1", EchoFactory()
        )
        unix = StreamServerService(f"unix:{path}:mode=600", EchoFactory())
        udp = DatagramServerService("udp:0:interface=127.0.0.1", EchoDatagramFactory())
        for service in (tcp, tls, unix, udp):
            service.set_service_parent(app)
        await start_application(app)

        assert (
            await _stream_echo(*await asyncio.open_connection("127.0.0.1", tcp.port)) == b"ping\n"
        )
        client_tls = ssl.create_default_context(cafile=cert)
        connection = await asyncio.open_connection(
            "127.0.0.1", tls.port, ssl=client_tls, server_hostname="localhost"
        )
        assert await _stream_echo(*connection) == b"ping\n"
        assert await _stream_echo(*await asyncio.open_unix_connection(str(path))) == b"ping\n"
        transport, collector = await loop.create_datagram_endpoint(
            _Collector, remote_addr=("127.0.0.1", udp.port or 0)
        )
        transport.sendto(b"ping")
        assert await asyncio.wait_for(collector.received.get(), 5) == b"ping"
        transport.close()

        # A connection still open at stop is closed by the awaited stop.
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp.port)
        writer.write(b"!")
        assert await reader.readexactly(1) == b"!"  # accepted by the server, not just queued
        await stop_application(app)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        assert not path.exists()

    arun(main(), loop=loop_name)
