"""A client service that keeps one connection up, reconnecting with exponential backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import ssl
from collections.abc import Awaitable
from typing import ClassVar

from appcore._errors import DataError, InternalError, UsageError
from appcore._numbers import check_number
from appcore.net._connections import ConnectionTracker
from appcore.net._endpoints import (
    ClientEndpoint,
    SSLClientEndpoint,
    TCPClientEndpoint,
    UNIXClientEndpoint,
    parse_client_endpoint,
)
from appcore.net._protocols import Factory
from appcore.net._sockets import client_ssl_context
from appcore.persist._persistent import class_path
from appcore.service._tree import Service

logger = logging.getLogger("appcore")


class ReconnectingClientService(Service):
    """Keeps a connection to ``endpoint`` open, speaking ``factory``'s protocol.

    The first attempt is made at start. Whenever an attempt fails or the connection is lost,
    the service waits and tries again: the ``n``-th wait since the last successful connection
    (``n`` from 0) is ``min(initial_delay * factor**n, max_delay)``, shortened by a random
    fraction of up to ``jitter`` so that many clients of one server do not retry in step.
    A successful connection resets the sequence. Stopping cancels a pending attempt or wait,
    closes the connection and completes once it is closed.
    """

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    _transient: ClassVar[tuple[str, ...]] = (
        "_task",
        "_connected",
        "_tracker",
        "_protocol",
        "_ssl_context",
        "failures",
        "connections",
    )
    _task: asyncio.Task[None] | None = None
    _connected: asyncio.Event | None = None
    _tracker: ConnectionTracker | None = None
    _protocol: asyncio.BaseProtocol | None = None
    _ssl_context: ssl.SSLContext | None = None
    #: Consecutive failed attempts since the last successful connection.
    failures: int = 0
    #: Successful connections since the service started.
    connections: int = 0
    #: Seconds a connection gets to close cleanly on stop before it is aborted.
    close_grace: float = 2.0

    def __init__(
        self,
        endpoint: str | ClientEndpoint,
        factory: Factory,
        initial_delay: float = 1.0,
        max_delay: float = 60.0,
        factor: float = 2.0,
        jitter: float = 0.1,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if not 0 < initial_delay <= max_delay or not math.isfinite(max_delay):
            raise UsageError(
                f"reconnect delays must satisfy 0 < initial_delay <= max_delay, "
                f"not {initial_delay} and {max_delay}"
            )
        if factor < 1:
            raise UsageError(f"reconnect factor must be at least 1, not {factor}")
        if not 0 <= jitter < 1:
            raise UsageError(f"reconnect jitter must be a fraction from 0 to below 1, not {jitter}")
        self.endpoint = parse_client_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
        self.factory = factory
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.factor = factor
        self.jitter = jitter

    def _validate(self) -> None:
        check_number(self, "initial_delay", more_than=0)
        check_number(self, "max_delay", at_least=self.initial_delay)
        check_number(self, "factor", at_least=1)
        check_number(self, "jitter", at_least=0)
        if self.jitter >= 1:
            raise DataError(f"{class_path(type(self))}: jitter must be below 1, not {self.jitter}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint.description!r}>"

    def delay_for(self, waits: int) -> float:
        """Seconds of the ``waits``-th wait (from 0) since the last successful connection."""
        exponent = waits
        if self.factor > 1:
            # Past this exponent the cap applies anyway; stopping there keeps the power finite.
            exponent = min(
                waits, math.ceil(math.log(self.max_delay / self.initial_delay, self.factor))
            )
        base = min(self.initial_delay * self.factor**exponent, self.max_delay)
        return base * (1.0 - self.jitter * random.random())

    @property
    def protocol(self) -> asyncio.BaseProtocol | None:
        """The protocol of the current connection, or None while disconnected."""
        return self._protocol

    @property
    def connected(self) -> bool:
        """Whether a connection is up right now."""
        return self._protocol is not None

    async def wait_connected(self, timeout: float | None = None) -> asyncio.BaseProtocol:
        """Wait until a connection is up and return its protocol."""
        if self._connected is None:
            raise InternalError(f"{self!r} is not running")
        await asyncio.wait_for(self._connected.wait(), timeout)
        assert self._protocol is not None
        return self._protocol

    def start_service(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise InternalError(f"{self!r}: start_service needs a running event loop") from None
        if isinstance(self.endpoint, SSLClientEndpoint):
            # Unreadable CA or key files are a configuration error: report it at start.
            self._ssl_context = client_ssl_context(self.endpoint)
        super().start_service()
        self.failures = 0
        self.connections = 0
        self._connected = asyncio.Event()
        self._tracker = ConnectionTracker()
        self._task = loop.create_task(self._keep_connected(self._tracker))

    def stop_service(self) -> Awaitable[None] | None:
        super().stop_service()
        task, self._task = self._task, None
        if task is None:
            return None
        task.cancel()
        return asyncio.ensure_future(self._shutdown(task))

    async def _shutdown(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._tracker is not None:
            await self._tracker.close_all(self.close_grace)
        self._protocol = None
        if self._connected is not None:
            self._connected.clear()

    async def _keep_connected(self, tracker: ConnectionTracker) -> None:
        assert self._connected is not None
        where = self.endpoint.description
        waits = 0
        while True:
            try:
                relay = await asyncio.wait_for(self._connect(tracker), self.endpoint.timeout)
            except (OSError, TimeoutError) as err:
                self.failures += 1
                reason = "timed out" if isinstance(err, TimeoutError) else err.strerror or err
                logger.info("connection to %s failed: %s", where, reason)
            else:
                self.failures = 0
                self.connections += 1
                waits = 0
                self._protocol = getattr(relay, "inner", relay)
                self._connected.set()
                logger.info("connected to %s", where)
                await tracker.wait_empty(None)
                self._protocol = None
                self._connected.clear()
                logger.info("connection to %s lost", where)
            delay = self.delay_for(waits)
            waits += 1
            await asyncio.sleep(delay)

    async def _connect(self, tracker: ConnectionTracker) -> asyncio.BaseProtocol:
        loop = asyncio.get_running_loop()
        build = tracker.wrap(self.factory.build_protocol)
        endpoint = self.endpoint
        if isinstance(endpoint, UNIXClientEndpoint):
            _, relay = await loop.create_unix_connection(build, endpoint.path)
        elif isinstance(endpoint, SSLClientEndpoint):
            _, relay = await loop.create_connection(
                build,
                endpoint.host,
                endpoint.port,
                ssl=self._ssl_context,
                server_hostname=endpoint.host,
            )
        elif isinstance(endpoint, TCPClientEndpoint):
            _, relay = await loop.create_connection(build, endpoint.host, endpoint.port)
        else:
            raise InternalError(f"{endpoint.description}: not a client endpoint kind")
        return relay
