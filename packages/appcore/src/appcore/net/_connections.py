"""Tracking the open connections of a service, so a stop can close them and wait."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class ConnectionTracker:
    """The open connections of one service, so a stop can close them and wait.

    Every protocol a service builds is wrapped in a thin relay that reports its transport
    here; on 3.11 ``Server.wait_closed`` does not wait for connections, so this does.
    """

    def __init__(self) -> None:
        self.transports: set[asyncio.BaseTransport] = set()
        self._protocols: dict[asyncio.BaseTransport, Any] = {}
        self._empty: asyncio.Event | None = None

    def wrap(self, build: Callable[[], Any]) -> Callable[[], asyncio.BaseProtocol]:
        """A protocol factory like ``build`` whose connections this tracker sees."""

        def make() -> asyncio.BaseProtocol:
            inner = build()
            if isinstance(inner, asyncio.DatagramProtocol):
                return _DatagramRelay(inner, self)
            if isinstance(inner, asyncio.BufferedProtocol):
                return _BufferedRelay(inner, self)
            return _StreamRelay(inner, self)

        return make

    def opened(self, transport: asyncio.BaseTransport, protocol: Any = None) -> None:
        """A connection started; ``protocol`` is the application's protocol object."""
        self.transports.add(transport)
        if protocol is not None:
            self._protocols[transport] = protocol

    def closed(self, transport: asyncio.BaseTransport | None) -> None:
        """A connection ended."""
        if transport is not None:
            self.transports.discard(transport)
            self._protocols.pop(transport, None)
        if not self.transports and self._empty is not None:
            self._empty.set()

    def close_idle(self, count: int) -> int:
        """Close at most ``count`` idle connections whose protocol allows it; how many.

        A protocol opts in with a ``close_if_idle() -> bool`` method that closes its
        connection when nothing is lost by it (an HTTP keep-alive connection between
        requests) and says whether it did. A server out of file descriptors calls this so
        that clients waiting to connect get in.
        """
        done = 0
        for protocol in list(self._protocols.values()):
            if done >= count:
                break
            close_if_idle = getattr(protocol, "close_if_idle", None)
            if close_if_idle is not None and close_if_idle():
                done += 1
        return done

    async def wait_empty(self, timeout: float | None) -> bool:
        """Wait until every tracked connection is gone; False when ``timeout`` ran out."""
        if not self.transports:
            return True
        self._empty = asyncio.Event()
        try:
            await asyncio.wait_for(self._empty.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self._empty = None
        return True

    async def close_all(self, grace: float) -> None:
        """Close every connection (flushing what is buffered); abort those still open after
        ``grace`` seconds."""
        for transport in list(self.transports):
            transport.close()
        if await self.wait_empty(grace):
            return
        for transport in list(self.transports):
            abort = getattr(transport, "abort", None)
            if abort is not None:
                abort()
        await self.wait_empty(1.0)


# Calls on the hot path go straight to the application's protocol: binding its methods on
# the relay instance shadows the relay's own methods, so no extra Python frame runs per read.
_DIRECT = (
    "data_received",
    "get_buffer",
    "buffer_updated",
    "datagram_received",
    "eof_received",
    "error_received",
    "pause_writing",
    "resume_writing",
)


class _Relay:
    """Passes every protocol call to the application's protocol, reporting open/close."""

    def __init__(self, inner: Any, tracker: ConnectionTracker) -> None:
        self.inner = inner
        self._tracker = tracker
        self._transport: asyncio.BaseTransport | None = None
        for name in _DIRECT:
            method = getattr(inner, name, None)
            if method is not None:
                setattr(self, name, method)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._tracker.opened(transport, self.inner)
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.inner.connection_lost(exc)
        finally:
            self._tracker.closed(self._transport)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class _StreamRelay(_Relay, asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self.inner.eof_received()
        return result


class _BufferedRelay(_Relay, asyncio.BufferedProtocol):
    def get_buffer(self, sizehint: int) -> Any:
        return self.inner.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        self.inner.buffer_updated(nbytes)

    def eof_received(self) -> bool | None:
        result: bool | None = self.inner.eof_received()
        return result


class _DatagramRelay(_Relay, asyncio.DatagramProtocol):
    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.inner.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.inner.error_received(exc)
