"""The reconnecting client service against real servers on 127.0.0.1 and a UNIX socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from appcore import (
    EchoFactory,
    Factory,
    NoInputError,
    ReconnectingClientService,
    StreamServerService,
    UsageError,
    start_application,
    stop_application,
)

pytestmark = pytest.mark.timeout(30)

Run = Callable[..., Any]


class Recorder(asyncio.Protocol):
    """Client side: remembers its transport and queues what arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received.put_nowait(data)


class RecorderFactory(Factory):
    def build_protocol(self) -> asyncio.BaseProtocol:
        return Recorder()


async def roundtrip(protocol: asyncio.BaseProtocol, data: bytes) -> bytes:
    assert isinstance(protocol, Recorder)
    assert protocol.transport is not None
    protocol.transport.write(data)
    got = b""
    while len(got) < len(data):
        got += await asyncio.wait_for(protocol.received.get(), 5)
    return got


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_reconnects_after_the_server_restarts(arun: Run, free_port: int) -> None:
    async def main() -> None:
        server = StreamServerService(f"tcp:{free_port}:interface=127.0.0.1", EchoFactory())
        client = ReconnectingClientService(
            f"tcp:host=127.0.0.1:port={free_port}",
            RecorderFactory(),
            initial_delay=0.05,
            max_delay=0.2,
        )
        await start_application(server)
        await start_application(client)
        first = await client.wait_connected(5)
        assert await roundtrip(first, b"one") == b"one"

        await stop_application(server)
        await until(lambda: not client.connected)
        await asyncio.sleep(0.3)  # a few refused attempts while the server is down
        assert client.failures >= 1

        await start_application(server)
        second = await client.wait_connected(5)
        assert second is not first
        assert await roundtrip(second, b"two") == b"two"
        assert client.connections == 2
        assert client.failures == 0  # reset by the successful connection

        await stop_application(client)
        assert not client.connected
        await stop_application(server)

    arun(main())


def test_backoff_grows_is_capped_and_jitter_stays_in_bounds() -> None:
    client = ReconnectingClientService(
        "tcp:127.0.0.1:9", RecorderFactory(), initial_delay=1.0, max_delay=10.0, jitter=0.25
    )
    for waits, base in enumerate([1, 2, 4, 8, 10, 10, 10]):
        samples = [client.delay_for(waits) for _ in range(300)]
        assert all(base * 0.75 <= s <= base for s in samples)
        assert max(samples) - min(samples) > base * 0.1  # the jitter really varies
    assert client.delay_for(10_000) <= 10.0  # no overflow however long it failed
    steady = ReconnectingClientService("tcp:127.0.0.1:9", RecorderFactory(), jitter=0)
    assert [steady.delay_for(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


class RecordingClient(ReconnectingClientService):
    """Notes the delays the service actually waits, in order."""

    def delay_for(self, waits: int) -> float:
        delay = super().delay_for(waits)
        self.seen = [*getattr(self, "seen", []), (waits, delay)]
        return delay


def test_failed_attempts_back_off_in_real_time(arun: Run, free_port: int) -> None:
    async def main() -> None:
        client = RecordingClient(
            f"tcp:127.0.0.1:{free_port}",  # nothing listens there
            RecorderFactory(),
            initial_delay=0.02,
            max_delay=0.08,
            jitter=0,
        )
        started = time.monotonic()
        await start_application(client)
        await until(lambda: client.failures >= 6)
        elapsed = time.monotonic() - started
        await stop_application(client)
        waits = client.seen[:5]
        assert [w for w, _ in waits] == [0, 1, 2, 3, 4]
        assert [d for _, d in waits] == pytest.approx([0.02, 0.04, 0.08, 0.08, 0.08])
        assert elapsed >= sum(d for _, d in waits)

    arun(main())


def test_stop_cancels_a_pending_wait_promptly(arun: Run, free_port: int) -> None:
    async def main() -> None:
        client = ReconnectingClientService(
            f"tcp:127.0.0.1:{free_port}", RecorderFactory(), initial_delay=30, max_delay=60
        )
        await start_application(client)
        await until(lambda: client.failures >= 1)
        started = time.monotonic()
        await stop_application(client)
        assert time.monotonic() - started < 1.0

    arun(main())


def test_stop_closes_the_connection(arun: Run) -> None:
    async def main() -> None:
        closed = asyncio.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # until the client closes
            closed.set()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = ReconnectingClientService(f"tcp:127.0.0.1:{port}", RecorderFactory())
        await start_application(client)
        await client.wait_connected(5)
        await stop_application(client)
        await asyncio.wait_for(closed.wait(), 5)
        server.close()

    arun(main())


def test_ssl_client(arun: Run, tls_files: tuple[str, str]) -> None:
    cert, key = tls_files

    async def main() -> None:
        server = StreamServerService(
            f"ssl:0:privateKey={key}:certKey={cert}:interface=127.0.0.1", EchoFactory()
        )
        await start_application(server)
        client = ReconnectingClientService(
            f"ssl:host=localhost:port={server.port}:caCerts={cert}", RecorderFactory()
        )
        await start_application(client)
        protocol = await client.wait_connected(5)
        assert await roundtrip(protocol, b"tls") == b"tls"
        await stop_application(client)
        await stop_application(server)

    arun(main())


def test_unix_client(arun: Run, tmp_path: Path) -> None:
    path = tmp_path / "s.sock"

    async def main() -> None:
        server = StreamServerService(f"unix:{path}", EchoFactory())
        await start_application(server)
        client = ReconnectingClientService(f"unix:path={path}", RecorderFactory())
        await start_application(client)
        assert await roundtrip(await client.wait_connected(5), b"local") == b"local"
        await stop_application(client)
        await stop_application(server)

    arun(main())


def test_missing_ca_file_fails_at_start(arun: Run, tmp_path: Path) -> None:
    client = ReconnectingClientService(
        f"ssl:host=localhost:port=443:caCerts={tmp_path / 'ca.pem'}", RecorderFactory()
    )

    async def main() -> None:
        with pytest.raises(NoInputError, match=r"ca\.pem"):
            client.start_service()
        assert not client.running

    arun(main())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_delay": 0},
        {"initial_delay": 5, "max_delay": 1},
        {"factor": 0.5},
        {"jitter": 1.0},
        {"jitter": -0.1},
    ],
)
def test_bad_backoff_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        ReconnectingClientService("tcp:127.0.0.1:80", RecorderFactory(), **kwargs)  # type: ignore[arg-type]
