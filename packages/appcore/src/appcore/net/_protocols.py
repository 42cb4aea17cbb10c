"""Protocol factories: the persisted half of a network service, plus the built-in echo.

A service holds an endpoint (where) and a factory (what to speak). The factory is saved with
the Application, so it carries configuration only; every connection gets a fresh protocol
from :meth:`Factory.build_protocol`. Two services may share one factory object (say, the same
protocol on TCP and on a UNIX socket); persistence keeps that sharing.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from appcore.persist._persistent import Persistent


class Factory(Persistent):
    """Builds one stream protocol per connection. Subclasses override :meth:`build_protocol`."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    def build_protocol(self) -> asyncio.BaseProtocol:
        """A new protocol instance for a new connection."""
        raise NotImplementedError(f"{type(self).__name__} must define build_protocol()")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class DatagramFactory(Persistent):
    """Builds the datagram protocol of a UDP port. Subclasses override :meth:`build_protocol`."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    def build_protocol(self) -> asyncio.DatagramProtocol:
        """A new protocol instance for a newly opened datagram socket."""
        raise NotImplementedError(f"{type(self).__name__} must define build_protocol()")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class EchoProtocol(asyncio.Protocol):
    """Sends back every byte it receives (RFC 862 over a stream)."""

    transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not every loop's transports subclass asyncio.Transport (uvloop's do not): trust it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class EchoDatagramProtocol(asyncio.DatagramProtocol):
    """Sends every datagram back to where it came from (RFC 862 over UDP)."""

    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class EchoFactory(Factory):
    """The echo service over a stream: handy to check a port, a loop or a deployment."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    def build_protocol(self) -> asyncio.BaseProtocol:
        return EchoProtocol()


class EchoDatagramFactory(DatagramFactory):
    """The echo service over UDP."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    def build_protocol(self) -> asyncio.DatagramProtocol:
        return EchoDatagramProtocol()
