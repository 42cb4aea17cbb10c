"""Server services: listen on an endpoint and serve each connection with a factory's protocol.

The socket is bound in ``privileged_start_service``, so a port below 1024 is bound while the
process is still root; ``start_service`` then hands the ready socket to the event loop. A
service whose privileged start was skipped binds in ``start_service`` instead.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable
from typing import Any, ClassVar, TypeGuard

from appcore._errors import InternalError, UsageError
from appcore.net._accept import StreamServer, serve_stream
from appcore.net._connections import ConnectionTracker
from appcore.net._endpoints import (
    ServerEndpoint,
    SSLServerEndpoint,
    SystemdServerEndpoint,
    UDPServerEndpoint,
    parse_server_endpoint,
)
from appcore.net._protocols import DatagramFactory, Factory
from appcore.net._sockets import Listener, bind_datagram, bind_stream, server_ssl_context
from appcore.service._tree import Service

logger = logging.getLogger("appcore")


class ListeningService(Service):
    """What stream and datagram servers share: bind early, serve, stop and wait.

    Each start makes a run: a listener, a connection tracker and a task opening the loop's
    server (its result, the "handle"). A stop detaches the run at once, so the service can
    be started again while the old run is still closing.
    """

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    _transient: ClassVar[tuple[str, ...]] = ("_listener", "_tracker", "_starting")
    _listener: Listener | None = None
    _tracker: ConnectionTracker | None = None
    _starting: asyncio.Task[Any] | None = None

    #: Seconds open connections get to finish on stop before they are aborted.
    close_grace: float = 2.0

    endpoint: ServerEndpoint

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint.description!r}>"

    @property
    def bound_address(self) -> Any:
        """The address the socket is bound to (``(host, port, ...)`` or a path); None if
        unbound."""
        return self._listener.address() if self._listener is not None else None

    @property
    def port(self) -> int | None:
        """The bound port of an IP socket (useful after binding port 0), else None."""
        address = self.bound_address
        return address[1] if isinstance(address, tuple) else None

    def privileged_start_service(self) -> None:
        super().privileged_start_service()
        if self._listener is None:
            self._listener = self._bind()

    def start_service(self) -> Awaitable[None]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise InternalError(f"{self!r}: start_service needs a running event loop") from None
        if self._listener is None:
            self._listener = self._bind()
        super().start_service()
        self._tracker = ConnectionTracker()
        self._starting = asyncio.ensure_future(self._serve(self._listener, self._tracker))
        return self._starting

    def stop_service(self) -> Awaitable[None] | None:
        super().stop_service()
        starting, listener, tracker = self._starting, self._listener, self._tracker
        self._starting = self._listener = self._tracker = None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # Only bound (privileged start), never served: nothing asynchronous to undo.
            if listener is not None:
                listener.close()
            return None
        handle = None
        if _succeeded(starting):
            # Stop accepting now, not on a later loop turn: the port frees up at once.
            handle = starting.result()
            self._stop_accepting(handle)
        return asyncio.ensure_future(self._shutdown(starting, listener, tracker, handle))

    def _bind(self) -> Listener:
        raise NotImplementedError

    async def _open(self, listener: Listener, tracker: ConnectionTracker) -> Any:
        """Hand the socket to the loop; returns the handle to close on stop."""
        raise NotImplementedError

    def _stop_accepting(self, handle: Any) -> None:
        raise NotImplementedError

    async def _closed(self, handle: Any) -> None:
        """Wait for the loop's side of the socket to be gone (after connections closed)."""

    async def _serve(self, listener: Listener, tracker: ConnectionTracker) -> Any:
        try:
            return await self._open(listener, tracker)
        except BaseException:
            listener.close()
            if self._listener is listener:  # still this run: the service did not start
                self._listener = self._tracker = self._starting = None
                self.running = False
            raise

    async def _shutdown(
        self,
        starting: asyncio.Task[Any] | None,
        listener: Listener | None,
        tracker: ConnectionTracker | None,
        handle: Any,
    ) -> None:
        if handle is None and starting is not None:
            # Opening a bound socket is quick; letting it finish (rather than cancelling it
            # midway) guarantees the loop's server is not left behind half made.
            await asyncio.wait([starting])
            if _succeeded(starting):
                handle = starting.result()
                self._stop_accepting(handle)
        if tracker is not None:
            await tracker.close_all(self.close_grace)
        if handle is not None:
            await self._closed(handle)
        if listener is not None:
            listener.close()


def _succeeded(task: asyncio.Task[Any] | None) -> TypeGuard[asyncio.Task[Any]]:
    return task is not None and task.done() and not task.cancelled() and task.exception() is None


class StreamServerService(ListeningService):
    """Serves a stream endpoint (tcp, tcp6, ssl, unix, systemd) with a protocol factory.

    ``StreamServerService("tcp:8080:interface=127.0.0.1", EchoFactory())``. Stopping closes the
    listening socket, then the open connections (aborting any still open after
    :attr:`close_grace` seconds), and completes once all are gone.
    """

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    _transient: ClassVar[tuple[str, ...]] = ("_ssl_context",)
    _ssl_context: ssl.SSLContext | None = None

    def __init__(
        self, endpoint: str | ServerEndpoint, factory: Factory, name: str | None = None
    ) -> None:
        super().__init__(name)
        parsed = parse_server_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
        if isinstance(parsed, UDPServerEndpoint):
            raise UsageError(
                f"{parsed.description} is a datagram endpoint: "
                "serve it with a DatagramServerService"
            )
        self.endpoint = parsed
        self.factory = factory

    def _bind(self) -> Listener:
        # Load the TLS files first: a bad key file then leaves no socket behind.
        endpoint = self.endpoint
        context = server_ssl_context(endpoint) if isinstance(endpoint, SSLServerEndpoint) else None
        listener = bind_stream(endpoint)
        self._ssl_context = context
        return listener

    async def _open(self, listener: Listener, tracker: ConnectionTracker) -> StreamServer:
        # appcore's own accept loop (not loop.create_server): it survives running out of
        # file descriptors the same way on every loop (see net/_accept.py).
        build = tracker.wrap(self.factory.build_protocol)
        return serve_stream(
            listener.sock,
            build,
            ssl_context=self._ssl_context,
            name=repr(self),
            close_idle=tracker.close_idle,
        )

    def _stop_accepting(self, handle: StreamServer) -> None:
        handle.close()

    async def _closed(self, handle: StreamServer) -> None:
        try:
            await asyncio.wait_for(handle.wait_closed(), self.close_grace + 1.0)
        except TimeoutError:
            logger.warning("%r: server did not close in time", self)


class DatagramServerService(ListeningService):
    """Serves a datagram endpoint (udp, or a systemd-passed datagram socket)."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    def __init__(
        self, endpoint: str | ServerEndpoint, factory: DatagramFactory, name: str | None = None
    ) -> None:
        super().__init__(name)
        parsed = parse_server_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
        if not isinstance(parsed, UDPServerEndpoint | SystemdServerEndpoint):
            raise UsageError(
                f"{parsed.description} is a stream endpoint; serve it with a StreamServerService"
            )
        self.endpoint = parsed
        self.factory = factory

    def _bind(self) -> Listener:
        return bind_datagram(self.endpoint)

    async def _open(self, listener: Listener, tracker: ConnectionTracker) -> asyncio.BaseTransport:
        loop = asyncio.get_running_loop()
        build = tracker.wrap(self.factory.build_protocol)
        transport, _ = await loop.create_datagram_endpoint(build, sock=listener.sock)
        return transport

    def _stop_accepting(self, handle: asyncio.BaseTransport) -> None:
        # The tracker then waits for connection_lost, which ends the datagram transport.
        handle.close()
