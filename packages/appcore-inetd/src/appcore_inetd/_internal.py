"""inetd's classic internal services over TCP and UDP.

echo (RFC 862) comes from :mod:`appcore._protocols`; here are discard (RFC 863), chargen
(RFC 864, with backpressure: it writes only while the transport accepts more), daytime
(RFC 867, a human-readable line) and time (RFC 868, seconds since 1900 as 32 bits).
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any, cast

from appcore import DatagramFactory, EchoDatagramFactory, EchoFactory, Factory

#: Seconds from 1900-01-01 (RFC 868's epoch) to 1970-01-01.
EPOCH_1900 = 2208988800
_CHARS = bytes(range(33, 127))  # the 94 printable ASCII characters chargen rotates
_LINE = 72
_BURST = 64  # lines written per turn of the loop while the transport takes more


def daytime_text() -> bytes:
    """``Wednesday, November 25, 2026 15:04:12-UTC`` and CR LF."""
    return time.strftime("%A, %B %d, %Y %H:%M:%S-UTC\r\n", time.gmtime()).encode("ascii")


def time_bytes() -> bytes:
    """RFC 868: the time as a 32-bit big-endian count of seconds since 1900 (wraps in 2036)."""
    return struct.pack("!I", (int(time.time()) + EPOCH_1900) & 0xFFFFFFFF)


def chargen_line(index: int) -> bytes:
    """Line ``index`` of the chargen pattern: 72 characters starting one further each line."""
    start = index % len(_CHARS)
    doubled = _CHARS + _CHARS
    return doubled[start : start + _LINE] + b"\r\n"


class _Stream(asyncio.Protocol):
    transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """Input is discarded (every service here but echo ignores what it is sent)."""

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class DiscardProtocol(_Stream):
    """Reads and throws away everything."""


class _OneShot(_Stream):
    def payload(self) -> bytes:
        raise NotImplementedError

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.write(self.payload())
        self.transport.close()


class DaytimeProtocol(_OneShot):
    """Sends the date and time as text, then closes."""

    def payload(self) -> bytes:
        return daytime_text()


class TimeProtocol(_OneShot):
    """Sends the RFC 868 time, then closes."""

    def payload(self) -> bytes:
        return time_bytes()


class ChargenProtocol(_Stream):
    """Sends the chargen pattern until the client goes away, as fast as it reads."""

    def __init__(self) -> None:
        self._index = 0
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._fill()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._fill()

    def _fill(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing() or self._paused:
            return
        chunk = b"".join(chargen_line(self._index + i) for i in range(_BURST))
        self._index += _BURST
        transport.write(chunk)
        # Yield to the loop between bursts; pause_writing stops us once the buffer is full.
        asyncio.get_running_loop().call_soon(self._fill)


class DiscardFactory(Factory):
    """discard over TCP."""

    __module__ = "appcore_inetd"  # persisted under its public name

    def build_protocol(self) -> asyncio.BaseProtocol:
        return DiscardProtocol()


class DaytimeFactory(Factory):
    """daytime over TCP."""

    __module__ = "appcore_inetd"  # persisted under its public name

    def build_protocol(self) -> asyncio.BaseProtocol:
        return DaytimeProtocol()


class TimeFactory(Factory):
    """time over TCP."""

    __module__ = "appcore_inetd"  # persisted under its public name

    def build_protocol(self) -> asyncio.BaseProtocol:
        return TimeProtocol()


class ChargenFactory(Factory):
    """chargen over TCP."""

    __module__ = "appcore_inetd"  # persisted under its public name

    def build_protocol(self) -> asyncio.BaseProtocol:
        return ChargenProtocol()


class _Datagram(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def reply(self, data: bytes) -> bytes | None:
        return None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        answer = self.reply(data)
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class _DiscardDatagram(_Datagram):
    pass


class _DaytimeDatagram(_Datagram):
    def reply(self, data: bytes) -> bytes | None:
        return daytime_text()


class _TimeDatagram(_Datagram):
    def reply(self, data: bytes) -> bytes | None:
        return time_bytes()


class _ChargenDatagram(_Datagram):
    def __init__(self) -> None:
        self._index = 0

    def reply(self, data: bytes) -> bytes | None:
        # RFC 864: one datagram of 0 to 512 characters per datagram received.
        lines = b"".join(chargen_line(self._index + i) for i in range(7))[:512]
        self._index += 1
        return lines


class DiscardDatagramFactory(DatagramFactory):
    """discard over UDP."""

    __module__ = "appcore_inetd"  # persisted under its public name

    def build_protocol(self) -> asyncio.DatagramProtocol:
        return _DiscardDatagram()


class DaytimeDatagramFactory(DatagramFactory):
    """daytime over UDP."""

    __module__ = "appcore_inetd"  # persisted under its public name

    def build_protocol(self) -> asyncio.DatagramProtocol:
        return _DaytimeDatagram()


class TimeDatagramFactory(DatagramFactory):
    """time over UDP."""

    __module__ = "appcore_inetd"  # persisted under its public name

    def build_protocol(self) -> asyncio.DatagramProtocol:
        return _TimeDatagram()


class ChargenDatagramFactory(DatagramFactory):
    """chargen over UDP."""

    __module__ = "appcore_inetd"  # persisted under its public name

    def build_protocol(self) -> asyncio.DatagramProtocol:
        return _ChargenDatagram()


STREAM_FACTORIES: dict[str, type[Factory]] = {
    "echo": EchoFactory,
    "discard": DiscardFactory,
    "daytime": DaytimeFactory,
    "time": TimeFactory,
    "chargen": ChargenFactory,
}
DATAGRAM_FACTORIES: dict[str, type[DatagramFactory]] = {
    "echo": EchoDatagramFactory,
    "discard": DiscardDatagramFactory,
    "daytime": DaytimeDatagramFactory,
    "time": TimeDatagramFactory,
    "chargen": ChargenDatagramFactory,
}
