"""The ``portforward`` server type: relaying, backpressure, half close, unreachable destination."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import Callable
from typing import Any

import pytest

from appcore import (
    EchoFactory,
    Service,
    StreamServerService,
    UsageError,
    get_service_maker,
    start_application,
    stop_application,
)
from appcore_portforward._maker import portforward
from appcore_portforward._relay import PortForwardFactory

pytestmark = pytest.mark.timeout(30)

LOCAL = "tcp:0:interface=127.0.0.1"


def _echo() -> StreamServerService:
    return StreamServerService(LOCAL, EchoFactory())


def _forwarder(dest_port: int, **extra: Any) -> StreamServerService:
    options = {"listen": LOCAL, "dest": f"tcp:host=127.0.0.1:port={dest_port}", **extra}
    service = portforward.make_service(options)
    assert isinstance(service, StreamServerService)
    return service


def _factory(service: StreamServerService) -> PortForwardFactory:
    factory = service.factory
    assert isinstance(factory, PortForwardFactory)
    return factory


def test_relays_both_ways(arun: Callable[..., Any]) -> None:
    echo = _echo()

    async def scenario() -> list[bytes]:
        await start_application(echo)
        assert echo.port is not None
        forwarder = _forwarder(echo.port)
        await start_application(forwarder)
        try:
            answers = []
            for text in (b"first\n", b"second\n"):
                reader, writer = await asyncio.open_connection("127.0.0.1", forwarder.port)
                writer.write(text)
                answers.append(await reader.readline())
                writer.close()
                await writer.wait_closed()
            return answers
        finally:
            await stop_application(forwarder)
            await stop_application(echo)

    assert arun(scenario()) == [b"first\n", b"second\n"]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_large_transfer_with_slow_reader_keeps_memory_bounded(
    arun: Callable[..., Any], loop: str
) -> None:
    total = 20 * 1024 * 1024
    payload = os.urandom(1024 * 1024)
    expected = hashlib.sha256(payload * (total // len(payload))).hexdigest()
    echo = _echo()

    async def scenario() -> tuple[int, str, int]:
        await start_application(echo)
        assert echo.port is not None
        forwarder = _forwarder(echo.port, buffer_size=64 * 1024)
        factory = _factory(forwarder)
        await start_application(forwarder)
        peak = 0
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", forwarder.port)

            async def send() -> None:
                for _ in range(total // len(payload)):
                    writer.write(payload)
                    await writer.drain()
                writer.write_eof()

            sender = asyncio.ensure_future(send())
            digest = hashlib.sha256()
            received = 0
            while True:
                chunk = await reader.read(64 * 1024)
                if not chunk:
                    break
                digest.update(chunk)
                received += len(chunk)
                peak = max(peak, factory.buffered_bytes())
                await asyncio.sleep(0.001)  # the slow reader
            await sender
            writer.close()
            await writer.wait_closed()
            return received, digest.hexdigest(), peak
        finally:
            await stop_application(forwarder)
            await stop_application(echo)

    received, digest, peak = arun(scenario(), loop=loop, timeout=25)
    assert received == total
    assert digest == expected
    # Two legs, each at most the high-water mark plus one read: far below the 20 MB sent.
    assert 0 < peak < 1024 * 1024


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_half_close_passes_eof_and_keeps_the_other_direction(
    arun: Callable[..., Any], loop: str
) -> None:
    async def collect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Answers only after the client finished sending: needs a half-closed relay.
        data = await reader.read()
        writer.write(b"got " + str(len(data)).encode())
        writer.close()

    async def scenario() -> bytes:
        server = await asyncio.start_server(collect, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        forwarder = _forwarder(port)
        await start_application(forwarder)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", forwarder.port)
            writer.write(b"x" * 100_000)
            writer.write_eof()
            answer = await reader.read()
            writer.close()
            return answer
        finally:
            await stop_application(forwarder)
            server.close()
            await server.wait_closed()

    assert arun(scenario(), loop=loop) == b"got 100000"


def test_unreachable_destination_closes_the_client(
    arun: Callable[..., Any], free_port: int
) -> None:
    forwarder = _forwarder(free_port)  # nothing listens there

    async def scenario() -> bytes:
        await start_application(forwarder)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", forwarder.port)
            writer.write(b"anyone?")
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return data
        finally:
            await stop_application(forwarder)

    assert arun(scenario()) == b""
    assert not _factory(forwarder).relays


def test_destination_dropping_closes_the_client(arun: Callable[..., Any]) -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        # A reset rather than a clean close: the forwarder must tear the pair down too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()

    async def scenario() -> bytes:
        server = await asyncio.start_server(drop, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        forwarder = _forwarder(port)
        await start_application(forwarder)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", forwarder.port)
            try:
                data = await asyncio.wait_for(reader.read(), 5)
            except ConnectionResetError:
                data = b""
            writer.close()
            return data
        finally:
            await stop_application(forwarder)
            server.close()

    assert arun(scenario()) == b""


def test_options() -> None:
    service = portforward.make_service({"listen": LOCAL, "host": "127.0.0.1", "port": 8080})
    assert isinstance(service, StreamServerService)
    assert _factory(service).dest.description == "tcp:host=127.0.0.1:port=8080"
    parsed = portforward.options.parse(["--dest", "unix:/run/x.sock", "-l", "tcp:7000"])
    assert parsed["dest"] == "unix:/run/x.sock"
    with pytest.raises(UsageError, match="destination is required"):
        portforward.make_service({})
    with pytest.raises(UsageError, match="not both"):
        portforward.make_service({"dest": "tcp:host=a:port=1", "port": 2})
    with pytest.raises(UsageError, match="--port"):
        portforward.options.parse(["--port", "70000"])
    with pytest.raises(UsageError):
        portforward.make_service({"dest": "tcp:host=a"})  # no port
    with pytest.raises(UsageError):
        portforward.make_service({"dest": "tcp:host=a:port=1", "buffer_size": 10})


def test_tree_saves_while_relaying(
    arun: Callable[..., Any], round_trip: Callable[[Service], list[Any]]
) -> None:
    echo = _echo()

    async def scenario() -> list[Any]:
        await start_application(echo)
        assert echo.port is not None
        forwarder = _forwarder(echo.port)
        await start_application(forwarder)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", forwarder.port)
            writer.write(b"ping\n")
            assert await reader.readline() == b"ping\n"
            assert _factory(forwarder).relays  # a live relay while saving
            copies = round_trip(forwarder)
            writer.close()
            return copies
        finally:
            await stop_application(forwarder)
            await stop_application(echo)

    for app in arun(scenario()):
        (copy,) = list(app)
        assert isinstance(copy, StreamServerService)
        factory = _factory(copy)
        assert factory.dest.description.startswith("tcp:host=127.0.0.1:port=")
        assert factory.buffer_size == 64 * 1024
        assert not factory.relays


def test_registered_as_entry_point() -> None:
    # Passes once appcore's pyproject lists portforward under appcore.service_makers.
    assert get_service_maker("portforward") is portforward
