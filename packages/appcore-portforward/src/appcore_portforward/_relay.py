"""The ``portforward`` server type: relay each accepted connection to a destination endpoint.

Every accepted connection opens its own connection to the destination and bytes flow both
ways. Memory stays bounded whatever the speeds: a leg whose outgoing buffer passes the
high-water mark makes the other leg stop reading (asyncio's ``pause_writing`` /
``resume_writing`` on both legs), so a slow reader slows the fast writer down instead of
filling the forwarder's memory. An end-of-file from one side is passed on as a half close
(``write_eof``) and the pair closes once both directions ended; an error on either side,
or a destination that cannot be reached, closes both.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from typing import Any, ClassVar, cast

from appcore import (
    ClientEndpoint,
    Factory,
    InternalError,
    SSLClientEndpoint,
    StreamServerService,
    TCPClientEndpoint,
    UNIXClientEndpoint,
    UsageError,
    client_ssl_context,
    parse_client_endpoint,
)
from appcore_portforward._maker import portforward

logger = logging.getLogger("appcore.portforward")

#: Default high-water mark (bytes) of each leg's outgoing buffer.
DEFAULT_BUFFER = 64 * 1024
#: Seconds a refused client gets to finish sending before its connection is closed.
REFUSE_GRACE = 5.0


class PortForwardFactory(Factory):
    """Relays every connection to ``dest``; each leg buffers at most about ``buffer_size``.

    Only configuration is persisted; the open relays are runtime state.
    """

    __module__ = "appcore_portforward"  # persisted under its public name

    _transient: ClassVar[tuple[str, ...]] = ("_relays", "_ssl_context")
    _relays: set[_Relay] | None = None
    _ssl_context: ssl.SSLContext | None = None

    def __init__(self, dest: str | ClientEndpoint, buffer_size: int = DEFAULT_BUFFER) -> None:
        parsed = parse_client_endpoint(dest) if isinstance(dest, str) else dest
        if buffer_size < 1024:
            raise UsageError(f"buffer size must be at least 1024 bytes, not {buffer_size}")
        self.dest = parsed
        self.buffer_size = buffer_size

    def _validate(self) -> None:
        portforward.options.check_loaded(self, "buffer_size")

    def __repr__(self) -> str:
        return f"<PortForwardFactory to {self.dest.description!r}>"

    @property
    def relays(self) -> set[_Relay]:
        """The relays open right now (one per accepted connection)."""
        if self._relays is None:
            self._relays = set()
        return self._relays

    def buffered_bytes(self) -> int:
        """Bytes waiting in the outgoing buffers of every open relay (both legs)."""
        return sum(relay.buffered_bytes() for relay in list(self.relays))

    def client_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for an ``ssl:`` destination, made once (files read lazily)."""
        if isinstance(self.dest, SSLClientEndpoint) and self._ssl_context is None:
            self._ssl_context = client_ssl_context(self.dest)
        return self._ssl_context

    def build_protocol(self) -> asyncio.BaseProtocol:
        return _Relay(self).inbound


class _Leg(asyncio.Protocol):
    """One side of a relay: what it reads goes to the other leg's transport."""

    def __init__(self, relay: _Relay, name: str) -> None:
        self.relay = relay
        self.name = name
        self.transport: asyncio.Transport | None = None
        self.peer: _Leg | None = None
        self.eof = False  # this side sent end-of-file
        self.reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport: trust the duck type.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=self.relay.factory.buffer_size)
        self.relay.leg_made(self)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            if not peer.transport.is_closing():
                peer.transport.write(data)
        elif self.relay.is_connecting():
            # Some loops (uvloop) read before a pause made in connection_made takes hold:
            # keep what comes early, up to the buffer size, for the destination.
            pending = self.relay.pending
            pending += data
            if len(pending) >= self.relay.factory.buffer_size:
                self.force_pause()

    def eof_received(self) -> bool:
        self.eof = True
        self.relay.eof_from(self)
        return True  # keep our write side open: the other direction may still flow

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.relay.leg_lost(self, exc)

    # Our outgoing buffer is full: stop reading from the other side until it drains.
    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.set_reading(False)

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.set_reading(True)

    def set_reading(self, on: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing() or self.reading_paused == (not on):
            return
        self.reading_paused = not on
        if on:
            transport.resume_reading()
        else:
            transport.pause_reading()

    def force_pause(self) -> None:
        """Stop reading even where the loop missed an earlier pause.

        CPython before 3.11.3 registers a new transport's reader after ``connection_made``
        even when the protocol paused it there, and then takes a second ``pause_reading``
        for a no-op: resuming first makes the pause real on every loop.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.resume_reading()
        transport.pause_reading()
        self.reading_paused = True

    def buffered(self) -> int:
        transport = self.transport
        return transport.get_write_buffer_size() if transport is not None else 0


class _Relay:
    """One accepted connection and its connection to the destination."""

    def __init__(self, factory: PortForwardFactory) -> None:
        self.factory = factory
        self.inbound = _Leg(self, "inbound")
        self.outbound = _Leg(self, "outbound")
        self.inbound.peer, self.outbound.peer = self.outbound, self.inbound
        self.connecting: asyncio.Task[None] | None = None
        self.give_up: asyncio.TimerHandle | None = None
        self.pending = bytearray()  # read from the client before the destination answered
        self.closed = False

    def buffered_bytes(self) -> int:
        return self.inbound.buffered() + self.outbound.buffered() + len(self.pending)

    def is_connecting(self) -> bool:
        return self.connecting is not None and not self.connecting.done()

    def leg_made(self, leg: _Leg) -> None:
        if leg is not self.inbound:
            # From here on the client's bytes go straight to the destination (data_received
            # sees the peer transport): what came early must be on the wire before them, so
            # it is written now, not later when the connecting task resumes.
            assert leg.transport is not None
            if self.pending:
                leg.transport.write(bytes(self.pending))
                self.pending.clear()
            return
        self.factory.relays.add(self)
        # Read nothing from the client until the destination answers (what a loop delivers
        # anyway is kept, bounded, in ``pending``).
        leg.set_reading(False)
        self.connecting = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        dest = self.factory.dest
        try:
            await asyncio.wait_for(self._open(dest), dest.timeout)
        except asyncio.CancelledError:
            raise
        except (OSError, TimeoutError, ssl.SSLError) as err:
            reason = "timed out" if isinstance(err, TimeoutError) else err.strerror or str(err)
            logger.warning("portforward to %s failed: %s", dest.description, reason)
            self._refuse()
            return
        outbound = self.outbound.transport
        if self.closed or self.inbound.transport is None or outbound is None:
            self.close()
            return
        if self.inbound.eof:
            self.eof_from(self.inbound)
        else:
            self.inbound.set_reading(True)

    async def _open(self, dest: ClientEndpoint) -> None:
        loop = asyncio.get_running_loop()

        def build() -> _Leg:
            return self.outbound

        if isinstance(dest, UNIXClientEndpoint):
            await loop.create_unix_connection(build, dest.path)
        elif isinstance(dest, SSLClientEndpoint):
            context = self.factory.client_ssl_context()
            await loop.create_connection(
                build, dest.host, dest.port, ssl=context, server_hostname=dest.host
            )
        elif isinstance(dest, TCPClientEndpoint):
            await loop.create_connection(build, dest.host, dest.port)
        else:
            raise InternalError(f"{dest.description}: not a client endpoint kind")

    def _refuse(self) -> None:
        """End the client's connection with a FIN, not a reset.

        Closing a socket with unread input makes the kernel send a reset, and the client
        would see an error instead of an end of file. So: half close, read and drop what the
        client still sends until its own end of file (or a short grace period), then close.
        """
        transport = self.inbound.transport
        if transport is None or transport.is_closing() or not transport.can_write_eof():
            self.close()
            return
        transport.write_eof()
        self.inbound.set_reading(True)  # data_received drops it: there is no peer transport
        self.give_up = asyncio.get_running_loop().call_later(REFUSE_GRACE, self.close)

    def eof_from(self, leg: _Leg) -> None:
        peer = leg.peer
        assert peer is not None
        if self.inbound.eof and self.outbound.eof:
            self.close()
            return
        transport = peer.transport
        if transport is None:
            if leg is self.inbound and self.is_connecting():
                return  # passed on once connected (see _connect)
            self.close()
        elif transport.can_write_eof():
            transport.write_eof()
        else:  # TLS cannot half-close: end both directions
            self.close()

    def leg_lost(self, leg: _Leg, exc: Exception | None) -> None:
        peer = leg.peer
        assert peer is not None
        if exc is not None and peer.transport is not None:
            # A broken side: the other one cannot be served correctly any more.
            peer.transport.abort()
        self.close()

    def close(self) -> None:
        """Close both legs (flushing what they buffered) and forget this relay."""
        if not self.closed:
            self.closed = True
            self.factory.relays.discard(self)
            if self.give_up is not None:
                self.give_up.cancel()
            if self.connecting is not None and not self.connecting.done():
                self.connecting.cancel()
        for leg in (self.inbound, self.outbound):
            if leg.transport is not None and not leg.transport.is_closing():
                leg.transport.close()


def make_service(options: Mapping[str, Any]) -> StreamServerService:
    """A server on ``--listen`` relaying connections to ``--dest`` (or ``--host``/``--port``)."""
    dest: str | None = options.get("dest")
    port: int | None = options.get("port")
    host: str = options.get("host") or "localhost"
    if dest and port is not None:
        raise UsageError("give either --dest or --host/--port, not both")
    if not dest:
        if port is None:
            raise UsageError("a destination is required: --dest ENDPOINT or --port PORT")
        escaped = host.replace("\\", "\\\\").replace(":", "\\:")
        dest = f"tcp:host={escaped}:port={port}"
    factory = PortForwardFactory(dest, options.get("buffer_size") or DEFAULT_BUFFER)
    listen: str = options.get("listen") or "tcp:6666"
    return StreamServerService(listen, factory, name="portforward")
