"""The accept loop of every stream server, the same on asyncio and uvloop.

Neither loop's own accept loop survives running out of file descriptors: asyncio's logs a
traceback for every attempt (and schedules a retry for each, so thousands a second), and
uvloop's (libuv's) accepts and at once closes waiting connections to drain the backlog, so
every new client is refused. This one, on ``EMFILE``/``ENFILE`` (or ``ENOBUFS``/``ENOMEM``),
stops watching the socket for :data:`PAUSE` seconds and logs one line per
:data:`LOG_INTERVAL`: waiting clients stay in the kernel's backlog and are accepted, in
order, as soon as descriptors are free again.

It also keeps a few descriptors in reserve: it pauses as soon as fewer than
:func:`reserve` are left, so the connections already open can still open the files and
outgoing sockets they need (a static file to send, an FTP data connection, the far side of
a port forward) instead of failing one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
import ssl
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("appcore.net")

#: Seconds accepting stays paused after running out of descriptors.
PAUSE = 0.1
#: At most one log line per listening socket in this many seconds while out of descriptors.
LOG_INTERVAL = 10.0
#: Connections accepted per readiness event before other work gets a turn.
BATCH = 64

_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# Errors about one connection that died in the backlog: skip it and accept the next.
_GONE = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})


def reserve(limit: int) -> int:
    """Descriptors kept free for open connections under a soft limit of ``limit``."""
    return max(2, min(32, limit // 16))


def _descriptor_limit() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if soft != resource.RLIM_INFINITY else 1 << 30


class Acceptor:
    """Accepts connections on a listening socket for as long as it runs.

    Each accepted socket (non-blocking; ``TCP_NODELAY`` set unless ``nodelay`` is false)
    goes to ``on_connection`` together with the peer address; ``name`` appears in the log.
    :meth:`pause_accepting` and :meth:`resume_accepting` let the owner hold new
    connections in the backlog (at a limit of its own); :meth:`close` stops accepting and
    closes the listening socket, as an asyncio server's ``close`` does.
    """

    def __init__(
        self,
        sock: socket.socket,
        on_connection: Callable[[socket.socket, Any], None],
        *,
        name: str = "",
        close_idle: Callable[[int], int] | None = None,
        nodelay: bool = True,
    ) -> None:
        self.sock = sock
        self.name = name or repr(sock.getsockname())
        self._on_connection = on_connection
        self._close_idle = close_idle
        self._loop = asyncio.get_running_loop()
        self._fd = sock.fileno()
        self._nodelay = nodelay and sock.family in (socket.AF_INET, socket.AF_INET6)
        self._watching = False
        self._held = False
        self._serving = False
        self._resume: asyncio.TimerHandle | None = None
        self._last_log = -LOG_INTERVAL
        self._pauses = 0  # pauses since the last log line
        self._closed_idle = 0  # idle connections closed since the last log line
        #: Times accepting was paused for lack of descriptors (for tests and monitoring).
        self.pause_count = 0

    def start(self) -> None:
        """Start accepting."""
        # As asyncio's create_server does: a socket handed over (a worker's, a systemd one)
        # may still be blocking, and one blocking accept would stall the loop.
        self.sock.setblocking(False)
        self._serving = True
        self._watch()

    def is_serving(self) -> bool:
        """Whether the acceptor was started and not closed."""
        return self._serving

    def close(self) -> None:
        """Stop accepting now and close the listening socket (the port is free at once)."""
        self._serving = False
        self._unwatch()
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        self.sock.close()

    def pause_accepting(self) -> None:
        """Leave new connections in the backlog until :meth:`resume_accepting`."""
        self._held = True
        self._unwatch()

    def resume_accepting(self) -> None:
        """Accept again after :meth:`pause_accepting` (once descriptors allow)."""
        self._held = False
        self._watch()

    def _watch(self) -> None:
        # Not while held by the owner, nor while a pause for descriptors runs its course.
        if self._serving and not self._held and self._resume is None and not self._watching:
            self._loop.add_reader(self._fd, self._accept_ready)
            self._watching = True

    def _unwatch(self) -> None:
        if self._watching:
            self._loop.remove_reader(self._fd)
            self._watching = False

    def _accept_ready(self) -> None:
        limit = _descriptor_limit()
        floor = limit - reserve(limit)
        for _ in range(BATCH):
            try:
                conn, address = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                if err.errno in _GONE:
                    continue
                self._pause(err, limit)
                return
            try:
                conn.setblocking(False)
                if self._nodelay:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                conn.close()  # reset by the peer before we got to it
                continue
            number = conn.fileno()
            try:
                self._on_connection(conn, address)
            except Exception:
                conn.close()
                logger.exception("%s: a new connection could not be set up", self.name)
            # Descriptors are allocated lowest first: this one's number says every lower one
            # is in use, so the reserve is being eaten into.
            if number >= floor:
                self._pause(None, limit)
                return
            if not self._watching:  # on_connection paused or closed us
                return

    def _pause(self, err: OSError | None, limit: int) -> None:
        self._unwatch()
        self.pause_count += 1
        self._pauses += 1
        if self._resume is None and self._serving:
            self._resume = self._loop.call_later(PAUSE, self._try_resume)
        exhausted = err is None or err.errno in _OUT_OF_RESOURCES
        if exhausted and self._close_idle is not None:
            # Make room for the clients waiting in the backlog, as far as the protocol allows.
            self._closed_idle += self._close_idle(reserve(limit))
        now = self._loop.time()
        if now - self._last_log >= LOG_INTERVAL:
            if exhausted:
                what = err.strerror if err is not None else "descriptors nearly used up"
                logger.warning(
                    "%s: not accepting for now (%s; limit %d descriptors); paused %d time(s) "
                    "and closed %d idle connection(s) since the last such line",
                    self.name, what, limit, self._pauses, self._closed_idle,
                )  # fmt: skip
            else:
                logger.error("%s: accept failed: %s; retrying shortly", self.name, err)
            self._last_log = now
            self._pauses = self._closed_idle = 0

    def _try_resume(self) -> None:
        self._resume = None
        if not self._serving:
            return
        limit = _descriptor_limit()
        if _lowest_free_descriptor(self._fd) >= limit - reserve(limit):
            self._pause(None, limit)
            return
        self._watch()


def _lowest_free_descriptor(fd: int) -> int:
    """The number the next new descriptor would get (every lower one is in use)."""
    try:
        probe = os.dup(fd)
    except OSError:
        return 1 << 30
    os.close(probe)
    return probe


class StreamServer:
    """What :func:`serve_stream` returns: an :class:`Acceptor` handing connections to a
    protocol factory, with TLS when given a context. ``close`` and ``wait_closed`` work as
    on an asyncio server."""

    def __init__(
        self,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        *,
        ssl_context: ssl.SSLContext | None = None,
        name: str = "",
        close_idle: Callable[[int], int] | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._factory = protocol_factory
        self._ssl = ssl_context
        self._pending: set[asyncio.Task[Any]] = set()
        self.acceptor = Acceptor(sock, self._connected, name=name, close_idle=close_idle)

    def _connected(self, conn: socket.socket, address: Any) -> None:
        task = self._loop.create_task(
            self._loop.connect_accepted_socket(self._factory, conn, ssl=self._ssl)
        )
        self._pending.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A failed TLS handshake or a peer gone before the protocol started.
            logger.debug("%s: connection not set up: %s", self.acceptor.name, task.exception())

    def close(self) -> None:
        """Stop accepting, close the listening socket, drop connections still setting up."""
        self.acceptor.close()
        for task in list(self._pending):
            task.cancel()

    def is_serving(self) -> bool:
        """Whether it is still accepting."""
        return self.acceptor.is_serving()

    async def wait_closed(self) -> None:
        """Wait for the connections that were still setting up when it closed."""
        while self._pending:
            with contextlib.suppress(BaseException):
                await asyncio.wait(list(self._pending))


def serve_stream(
    sock: socket.socket,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    *,
    ssl_context: ssl.SSLContext | None = None,
    name: str = "",
    close_idle: Callable[[int], int] | None = None,
) -> StreamServer:
    """Serve a listening stream socket (TCP or UNIX) on the running loop, as
    ``loop.create_server(protocol_factory, sock=sock, ssl=ssl_context)`` would, but
    surviving file-descriptor exhaustion (see :class:`Acceptor`).

    ``close_idle(count)``, when given, is called while descriptors are short to close up to
    ``count`` idle connections (see :meth:`ConnectionTracker.close_idle`).
    """
    server = StreamServer(
        sock, protocol_factory, ssl_context=ssl_context, name=name, close_idle=close_idle
    )
    server.acceptor.start()
    return server
