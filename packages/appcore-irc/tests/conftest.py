"""Fixtures for this server type's tests, on appcore's public testing helpers.

``serve(scenario, **options)`` runs an IRC server on a free loopback port around one
scenario; inside it, ``library(port)`` connects clients of the real ``irc`` library (jaraco's)
and ``raw`` is a bare socket client for what a library would never send.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from irc.client_aio import AioConnection, AioReactor

from appcore import Application, Service, start_application, stop_application
from appcore.testing import free_port as _free_port
from appcore.testing import round_trip as _round_trip
from appcore.testing import run_coroutine, self_signed_certificate
from appcore_irc._maker import irc
from appcore_irc._service import IRCServerService

LOCAL = "tcp:0:interface=127.0.0.1"


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return _free_port()


@pytest.fixture
def arun() -> Callable[..., Any]:
    """Run a coroutine on a fresh loop (``loop="asyncio"``), bounded by ``timeout`` seconds."""
    return run_coroutine


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for ``localhost`` and 127.0.0.1: ``(cert.pem, key.pem)``."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def round_trip() -> Callable[[Service], list[Application]]:
    """Put a service in an Application and reload it from pickle, TAP, TAX and TAS."""
    return _round_trip


def run_server(
    arun: Callable[..., Any],
    scenario: Callable[[int], Awaitable[Any]],
    **options: Any,
) -> Any:
    """Serve IRC on a free port, run ``scenario(port)``, stop; returns the scenario's result."""
    service = irc.make_service({"listen": LOCAL, "name": "irc.test", **options})
    assert isinstance(service, IRCServerService)

    errors: list[dict[str, Any]] = []

    async def main() -> Any:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        await start_application(service)
        try:
            assert service.port is not None
            return await scenario(service.port)
        finally:
            await stop_application(service)

    result = arun(main(), timeout=20)
    gc.collect()  # an unretrieved task exception is reported when the task is collected
    assert not errors, errors
    return result


@pytest.fixture
def serve(arun: Callable[..., Any]) -> Callable[..., Any]:
    """``serve(scenario, **irc_options)``: see :func:`run_server`."""
    return functools.partial(run_server, arun)


class Raw:
    """A bare socket client: send lines, wait for lines matching a pattern."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.seen: list[str] = []

    @classmethod
    async def open(cls, port: int, nick: str | None = None) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        if nick is not None:
            await client.send(f"NICK {nick}", f"USER {nick} 0 * :{nick} the tester")
            await client.expect(r" 376 | 422 ")
        return client

    async def send(self, *lines: str | bytes) -> None:
        for line in lines:
            data = line if isinstance(line, bytes) else line.encode() + b"\r\n"
            self.writer.write(data)
        await self.writer.drain()

    async def expect(self, pattern: str, timeout: float = 5.0) -> str:
        """The next line matching ``pattern`` (lines before it are kept in ``seen``)."""

        async def read() -> str:
            while True:
                raw = await self.reader.readline()
                if not raw:
                    raise EOFError(f"closed while waiting for {pattern!r}; saw {self.seen[-5:]}")
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.seen.append(line)
                if re.search(pattern, line):
                    return line

        try:
            return await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            raise AssertionError(f"no line matching {pattern!r}; last: {self.seen[-6:]}") from None

    async def closed(self, timeout: float = 5.0) -> bool:
        """Whether the server closes the connection (reading what is left until then)."""
        try:
            while await asyncio.wait_for(self.reader.readline(), timeout):
                pass
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        return True

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


@pytest.fixture
def raw() -> type[Raw]:
    """The :class:`Raw` socket client class."""
    return Raw


class Library:
    """Clients of the ``irc`` library on one reactor, and the events each one got.

    :meth:`wait` takes the next event of a kind; :meth:`settle` sends a PING and returns
    everything that came before its PONG, which is how a test shows that nothing else came.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reactor = AioReactor(loop=asyncio.get_running_loop())
        self.events: list[tuple[AioConnection, Any]] = []
        self.changed = asyncio.Event()
        self.reactor.add_global_handler("all_events", self._record)
        self._tokens = itertools.count()

    def _record(self, connection: AioConnection, event: Any) -> None:
        if event.type != "all_raw_messages":
            self.events.append((connection, event))
            self.changed.set()

    async def connect(
        self, nick: str, *, password: str | None = None, welcome: bool = True
    ) -> AioConnection:
        """A new client registered as ``nick`` (welcome and MOTD consumed, unless told not to
        wait for the welcome)."""
        connection = self.reactor.server()
        await connection.connect("127.0.0.1", self.port, nick, password=password)
        if welcome:
            await self.wait(connection, "welcome")
            await self.settle(connection)
        return connection

    async def join(self, connection: AioConnection, channel: str, key: str = "") -> None:
        """Join ``channel`` and take the burst that comes with it (JOIN, topic, NAMES)."""
        connection.join(channel, key)
        await self.wait(connection, "endofnames")
        await self.settle(connection)

    async def wait(
        self, connection: AioConnection, kind: str, test: Callable[[Any], bool] = bool
    ) -> Any:
        """The first event of ``kind`` (passing ``test``) that ``connection`` got; taken."""

        async def find() -> Any:
            while True:
                for conn, event in self.events:
                    if conn is connection and event.type == kind and test(event):
                        self.events.remove((conn, event))
                        return event
                self.changed.clear()
                await self.changed.wait()

        try:
            return await asyncio.wait_for(find(), 5)
        except TimeoutError:
            mine = [event.type for conn, event in self.events if conn is connection]
            raise AssertionError(f"no {kind!r} event; pending: {mine}") from None

    async def settle(self, connection: AioConnection) -> list[Any]:
        """Every event ``connection`` got before the answer to a PING sent now; all taken."""
        token = f"settle{next(self._tokens)}"
        connection.ping(token)
        await self.wait(connection, "pong", lambda event: token in event.arguments)
        mine = [(conn, event) for conn, event in self.events if conn is connection]
        for entry in mine:
            self.events.remove(entry)
        return [event for _, event in mine]

    async def kinds(self, connection: AioConnection) -> list[str]:
        """The kinds of the events :meth:`settle` returns."""
        return [event.type for event in await self.settle(connection)]

    def close(self) -> None:
        self.reactor.disconnect_all("end of test")


@pytest.fixture
def library() -> type[Library]:
    """The :class:`Library` class: ``clients = library(port)`` inside a scenario."""
    return Library
