"""One client connection: line framing, flood control, liveness, and its way out.

Lines go through a per-client token bucket: ``flood_burst`` lines at once, then
``flood_rate`` lines a second. Lines beyond that wait in a receive queue and are handled as
tokens come back; a client whose queue passes :data:`RECVQ_LIMIT` bytes is disconnected
with ``ERROR :Closing Link: ... (Excess Flood)``, so a flood costs the server a bounded
amount of memory and work while every other client is served as before. Likewise a client
that reads too slowly is dropped once :data:`SENDQ_LIMIT` bytes wait for it.

A command that must check a password (PASS at registration, OPER) does so in a worker
thread through :meth:`Client.hold`: that client's later lines wait until the answer is sent,
so its replies keep their order, and every other client is served meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from appcore_irc._messages import MAX_LINE, decode, format_line, parse

if TYPE_CHECKING:
    from appcore_irc._channel import Channel
    from appcore_irc._network import Network

logger = logging.getLogger("appcore.irc")

T = TypeVar("T")

#: Bytes of received lines waiting for flood tokens before the client is disconnected.
RECVQ_LIMIT = 8 * 1024
#: Bytes waiting to be sent to a client before it is disconnected.
SENDQ_LIMIT = 1024 * 1024


class Client(asyncio.Protocol):
    """A connected client; :class:`~._network.Network` holds the shared state."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.transport: asyncio.Transport | None = None
        self.host = "unknown"
        self.nick: str | None = None
        self.user: str | None = None
        self.realname = ""
        self.registered = False
        self.modes: set[str] = set()
        self.channels: dict[str, Channel] = {}
        self.away: str | None = None
        self.password: str | None = None  # the last PASS, checked when registration completes
        # folded channel name -> the channel invited to (None: it did not exist); oldest first
        self.invited: dict[str, Channel | None] = {}
        self.failed_logins = 0
        self.signon = int(time.time())
        self.last_spoke = time.monotonic()
        self.closed = False
        self._held = False  # a password check is running: later lines wait
        self._buffer = bytearray()
        self._discarding = False  # inside an overlong line: drop up to its end
        self._queue: deque[bytes | None] = deque()  # None: a line that was too long
        self._queued = 0
        self._tokens = float(network.flood_burst)
        self._refilled = time.monotonic()
        self._drain_later: asyncio.TimerHandle | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._awaiting_pong = False

    def __repr__(self) -> str:
        return f"<Client {self.nick or '*'} from {self.host}>"

    @property
    def prefix(self) -> str:
        """``nick!user@host``: who this client is, as others see it."""
        return f"{self.nick}!{self.user}@{self.host}"

    @property
    def is_oper(self) -> bool:
        """Whether this client is an IRC operator (user mode ``o``)."""
        return "o" in self.modes

    # --- asyncio protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self.host = str(peer[0])
        elif peer:
            self.host = "localhost"
        if not self.network.admit(self):
            self.quit("Server is full")
            return
        self._schedule_ping()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            raw = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            if self._discarding:
                self._discarding = False
            elif len(raw) > MAX_LINE - 2:
                self._queue.append(None)
            elif raw:
                self._queue.append(raw)
                self._queued += len(raw)
        if len(self._buffer) > MAX_LINE:
            # No end of line within 512 bytes: drop the rest of this line as it comes.
            self._buffer.clear()
            if not self._discarding:
                self._discarding = True
                self._queue.append(None)
        self._drain()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.quit("Connection closed" if exc is None else f"Read error: {exc}")

    def pause_writing(self) -> None:
        self._check_sendq()

    # --- sending

    def send_line(self, line: bytes) -> None:
        """Queue one formatted line for this client (dropped once it is closing)."""
        if self.closed or self.transport is None:
            return
        self.transport.write(line)
        self._check_sendq()

    def send(self, source: str | None, command: str, *params: str, text: bool = True) -> None:
        """Send ``:source COMMAND params`` (see :func:`format_line` for ``text``)."""
        self.send_line(format_line(source, command, *params, text=text))

    def numeric(self, code: str, *params: str, text: bool = True) -> None:
        """A numeric reply from the server, addressed to this client."""
        self.send(self.network.name, code, self.nick or "*", *params, text=text)

    def _check_sendq(self) -> None:
        transport = self.transport
        if transport is not None and transport.get_write_buffer_size() > SENDQ_LIMIT:
            transport.abort()  # it reads nothing: writing it a goodbye would not help

    # --- flood control

    def _drain(self) -> None:
        self._drain_later = None
        now = time.monotonic()
        network = self.network
        self._tokens = min(
            float(network.flood_burst), self._tokens + (now - self._refilled) * network.flood_rate
        )
        self._refilled = now
        while self._queue and self._tokens >= 1.0 and not self.closed and not self._held:
            raw = self._queue.popleft()
            self._tokens -= 1.0
            if raw is None:
                self.numeric("417", "Input line was too long")
            else:
                self._queued -= len(raw)
                self._handle(raw)
        if self.closed or not self._queue:
            return
        if self._queued > RECVQ_LIMIT:
            self.quit("Excess Flood")
        elif self._drain_later is None and not self._held:
            wait = (1.0 - self._tokens) / network.flood_rate
            self._drain_later = asyncio.get_running_loop().call_later(wait, self._drain)

    def _handle(self, raw: bytes) -> None:
        self._awaiting_pong = False
        if b"\0" in raw:
            return  # NUL never belongs in a line: ignore it rather than guess
        message = parse(decode(raw))
        if message is None:
            return
        try:
            self.network.dispatch(self, message)
        except Exception:  # one bad command must not take the connection (or server) down
            logger.exception("irc: %r failed on %s", self, message.command)
            self.numeric("400", message.command, "Internal error")

    # --- work off the event loop

    def hold(self, work: Callable[[], T], then: Callable[[T | None], None]) -> None:
        """Run blocking ``work`` in the network's worker threads, then ``then(result)`` here.

        Until ``then`` has run, this client's further lines wait in its queue. ``result`` is
        None when ``work`` raised (logged: a broken password file refuses, never crashes).
        """
        self._held = True
        future = asyncio.get_running_loop().run_in_executor(self.network.workers(), work)

        def done(finished: asyncio.Future[T]) -> None:
            self._held = False
            if self.closed or finished.cancelled():
                return
            error = finished.exception()
            if error is not None:
                logger.error("irc: a check for %r failed: %s", self, error)
            try:
                then(None if error is not None else finished.result())
            except Exception:  # as in _handle: one bad command never takes the server down
                logger.exception("irc: %r failed after a check", self)
            if not self.closed:
                self._drain()

        future.add_done_callback(done)

    # --- liveness

    def _schedule_ping(self) -> None:
        loop = asyncio.get_running_loop()
        self._ping_timer = loop.call_later(self.network.ping_interval, self._ping)

    def _ping(self) -> None:
        if self.closed:
            return
        if not self.registered:
            self.quit("Registration timed out")
        elif self._awaiting_pong:
            self.quit("Ping timeout")
        else:
            self._awaiting_pong = True
            self.send(None, "PING", self.network.name)
            self._schedule_ping()

    # --- leaving

    def quit(self, reason: str, *, tell_others: bool = True) -> None:
        """Leave: tell the channels (once registered), say ERROR, close. Idempotent."""
        if self.closed:
            return
        if tell_others and self.registered:
            for peer in self.network.peers_of(self):
                peer.send(self.prefix, "QUIT", reason)
        self.network.forget(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(
                format_line(None, "ERROR", f"Closing Link: {self.host} ({reason})")
            )
        self.closed = True
        for timer in (self._drain_later, self._ping_timer):
            if timer is not None:
                timer.cancel()
        self._queue.clear()
        if self.transport is not None:
            self.transport.close()
