"""The telnet side of the manhole: option negotiation, a login, then the interpreter.

Negotiation (RFC 854/855/857/858/1073/1184): the server offers WILL ECHO and WILL
SUPPRESS-GO-AHEAD (the client then sends each key as typed and leaves echoing to us), asks
DO NAWS (window size) and refuses LINEMODE, so editing happens here. Requests are answered
only when they change an option's state, which is what keeps two peers from looping
(RFC 854's rule). Unknown options are refused; an ``IAC IAC`` is a data byte 255.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from typing import TYPE_CHECKING, cast

from appcore_manhole._completion import Completer
from appcore_manhole._editor import (
    BACKSPACE,
    CLOSED,
    INTERRUPT,
    KILL,
    KeyDecoder,
    LineEditor,
)
from appcore_manhole._session import interact, login

if TYPE_CHECKING:
    from appcore_manhole.telnet import TelnetManholeFactory

logger = logging.getLogger("appcore.manhole")

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
NOP, DM, BRK, IP, AO, AYT, EC, EL, GA = 241, 242, 243, 244, 245, 246, 247, 248, 249
ECHO, SGA, NAWS, LINEMODE = 1, 3, 31, 34

#: Options this server performs (answering DO with WILL).
_LOCAL = frozenset({ECHO, SGA})
#: Options the client may perform (answering WILL with DO).
_REMOTE = frozenset({NAWS, SGA})
_MAX_SUBNEGOTIATION = 256
_MAX_QUEUED_KEYS = 65536

_DATA, _COMMAND, _OPTION, _SUB, _SUB_IAC = range(5)


class TelnetManholeProtocol(asyncio.Protocol):
    """One telnet connection: negotiates, then runs a login and a console session."""

    def __init__(self, factory: TelnetManholeFactory) -> None:
        self.factory = factory
        self.transport: asyncio.Transport | None = None
        self.keys: asyncio.Queue[str] = asyncio.Queue()
        self.local: set[int] = set()  # options we perform
        self.remote: set[int] = set()  # options the client performs
        self.window: tuple[int, int] = (80, 24)
        self._decoder = KeyDecoder()
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._state = _DATA
        self._command = 0
        self._sub = bytearray()
        self._task: asyncio.Task[None] | None = None
        self.peer: object = None

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.peer = transport.get_extra_info("peername")
        self.local.update({ECHO, SGA})
        self._send(bytes([IAC, WILL, ECHO, IAC, WILL, SGA, IAC, DO, SGA, IAC, DO, NAWS]))
        self._send(bytes([IAC, DONT, LINEMODE]))
        self._task = asyncio.ensure_future(self._run())

    def data_received(self, data: bytes) -> None:
        text = bytearray()
        for byte in data:
            text += self._byte(byte)
        if text:
            self._keys(self._text.decode(bytes(text)))

    def eof_received(self) -> bool | None:
        self.keys.put_nowait(CLOSED)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.keys.put_nowait(CLOSED)

    # --- output

    def write(self, text: str) -> None:
        """Send text; newlines become CR LF and byte 255 is escaped, as telnet wants."""
        data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
        self._send(data.replace(b"\xff", b"\xff\xff"))

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # --- input

    def _keys(self, text: str) -> None:
        for key in self._decoder.feed(text):
            if self.keys.qsize() < _MAX_QUEUED_KEYS:
                self.keys.put_nowait(key)

    def _byte(self, byte: int) -> bytes:
        """Advance the parser by one byte; returns the data byte it yields, if any."""
        state = self._state
        if state == _DATA:
            if byte == IAC:
                self._state = _COMMAND
                return b""
            return bytes([byte])
        if state == _COMMAND:
            self._state = _DATA
            if byte == IAC:
                return b"\xff"
            if byte in (DO, DONT, WILL, WONT):
                self._command = byte
                self._state = _OPTION
            elif byte == SB:
                self._sub.clear()
                self._state = _SUB
            elif byte in (IP, BRK):
                self.keys.put_nowait(INTERRUPT)
            elif byte == EC:
                self.keys.put_nowait(BACKSPACE)
            elif byte == EL:
                self.keys.put_nowait(KILL)
            elif byte == AYT:
                self._send(b"\r\n[manhole: yes]\r\n")
            return b""
        if state == _OPTION:
            self._state = _DATA
            self._negotiate(self._command, byte)
            return b""
        if state == _SUB:
            if byte == IAC:
                self._state = _SUB_IAC
            elif len(self._sub) < _MAX_SUBNEGOTIATION:
                self._sub.append(byte)
            return b""
        # _SUB_IAC
        if byte == SE:
            self._state = _DATA
            self._subnegotiation(bytes(self._sub))
        elif byte == IAC:
            self._state = _SUB
            if len(self._sub) < _MAX_SUBNEGOTIATION:
                self._sub.append(IAC)
        else:
            self._state = _DATA  # malformed: drop the subnegotiation
        return b""

    def _negotiate(self, command: int, option: int) -> None:
        if command == DO:
            if option in _LOCAL and option not in self.local:
                self.local.add(option)
                self._send(bytes([IAC, WILL, option]))
            elif option not in _LOCAL:
                self._send(bytes([IAC, WONT, option]))
        elif command == DONT:
            if option in self.local:
                self.local.discard(option)
                self._send(bytes([IAC, WONT, option]))
        elif command == WILL:
            if option in _REMOTE:
                if option not in self.remote:
                    self.remote.add(option)
                    # We asked for NAWS and SGA already; a WILL in answer needs no reply.
                    if option not in (NAWS, SGA):
                        self._send(bytes([IAC, DO, option]))
            else:
                self._send(bytes([IAC, DONT, option]))
        elif command == WONT and option in self.remote:
            self.remote.discard(option)
            self._send(bytes([IAC, DONT, option]))

    def _subnegotiation(self, data: bytes) -> None:
        if len(data) == 5 and data[0] == NAWS:
            width = int.from_bytes(data[1:3], "big")
            height = int.from_bytes(data[3:5], "big")
            if width and height:
                self.window = (width, height)

    # --- the session

    @property
    def echoing(self) -> bool:
        """Whether we echo (the client agreed to let us), rather than the client itself."""
        return ECHO in self.local

    async def _next_key(self) -> str:
        return await self.keys.get()

    async def _run(self) -> None:
        editor = LineEditor(self._next_key, self.write)
        factory = self.factory

        async def read_line(prompt: str, echo: bool = True) -> str | None:
            return await editor.read_line(prompt, echo=echo and self.echoing)

        try:
            try:
                user = await asyncio.wait_for(
                    login(
                        read_line,
                        self.write,
                        factory.password_file,
                        factory.attempts,
                        factory.failure_delay,
                        self.peer,
                        factory.throttle,
                    ),
                    factory.login_timeout,
                )
            except TimeoutError:
                logger.warning("manhole: no login from %s in time: hanging up", self.peer)
                self.write("\nLogin timed out.\n")
                return
            if user is None:
                return
            namespace = factory.namespace(user, self)
            editor.complete = Completer(namespace)  # only now: names are for the logged-in
            await interact(read_line, self.write, namespace, user)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("manhole session from %s failed", self.peer)
        finally:
            self.write("")
            self.close()
