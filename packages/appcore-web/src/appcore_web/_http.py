"""The HTTP/1.1 connection: httptools parses, requests are answered strictly in order.

One :class:`HTTPConnection` per TCP connection. Parsed requests wait in a queue so pipelined
requests get their responses in the order they came; reading pauses when that queue or the
outgoing buffer grows, so a client can make the server hold only a bounded amount for it.
A response is written either at once (the hot path: a cached small file) or by a task that
awaits the socket (big files, applications); the next request is taken only when it is done.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, NoReturn, cast

import httptools

from appcore_web._response import connection_header, error_body, status_line
from appcore_web._sendfile import CAN_SENDFILE, FileSender, Pieces

if TYPE_CHECKING:
    from appcore_web._runtime import SiteRuntime
    from appcore_web._websocket import WebSocketSession

logger = logging.getLogger("appcore.web")

_FALLBACK_CHUNK = 256 * 1024
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
# First letters of the request headers that make a static response conditional or partial
# (If-*, Range): a request without any takes the fast path without looking at headers again.
_CONDITIONAL_INITIALS = frozenset(b"iIrR")


# A request line whose method is a syntactically valid token (RFC 9110 9.1).
_REQUEST_LINE = re.compile(rb"(?:^|\n)([-!#$%&'*+.^_`|~0-9A-Za-z]+) [^ \r\n]+ HTTP/\d\.\d\r?\n")


def _unknown_method_in(data: bytes) -> bool:
    """Whether ``data`` holds a well-formed request line whose method the parser refuses.

    The parser does not say where in ``data`` it failed; the failing request is the first
    one whose method it refuses, so the first such request line is the one.
    """
    for match in _REQUEST_LINE.finditer(data):
        probe = httptools.HttpRequestParser(None)
        try:
            probe.feed_data(match.group(1) + b" / HTTP/1.1\r\n")
        except httptools.HttpParserInvalidMethodError:
            return True
        except httptools.HttpParserError:
            continue
    return False


def wants_websocket(req: Request) -> bool:
    """Whether ``req`` asks to upgrade its connection to a WebSocket."""
    upgrade = req.header(b"upgrade")
    return req.method == b"GET" and upgrade is not None and b"websocket" in upgrade.lower()


class Request:
    """One parsed request. Header names are lower-cased; values are raw bytes."""

    __slots__ = (
        "body",
        "conditional",
        "error",
        "headers",
        "http10",
        "keep_alive",
        "method",
        "upgrade",
        "url",
        "version",
    )

    def __init__(self) -> None:
        self.method = b"-"
        self.url = b""
        self.version = "1.1"
        self.http10 = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.keep_alive = False
        self.body = b""
        self.error = 0
        self.conditional = False
        #: For a WebSocket upgrade: the bytes that followed the request; else None.
        self.upgrade: bytes | None = None

    def header(self, name: bytes) -> bytes | None:
        """The value of header ``name`` (lower case); repeated fields are joined with commas."""
        found = [v for n, v in self.headers if n == name]
        if not found:
            return None
        return found[0] if len(found) == 1 else b", ".join(found)

    @property
    def path(self) -> bytes:
        """The raw (still percent-encoded) path of the request target."""
        url = self.url
        cut = url.find(b"?")
        return url if cut < 0 else url[:cut]

    @property
    def query(self) -> bytes:
        """The raw query string, without the ``?``."""
        _, _, query = self.url.partition(b"?")
        return query.partition(b"#")[0]


class ResponseFailed(Exception):
    """A responder failed and logged why: answer 500, or cut the connection if too late."""


class _Rejected(Exception):
    """Raised from a parser callback to stop parsing with an HTTP status."""


class HTTPConnection(asyncio.Protocol):
    """The protocol object of one client connection."""

    def __init__(self, runtime: SiteRuntime) -> None:
        self.runtime = runtime
        self.limits = runtime.limits
        self.loop = runtime.loop
        self.transport: asyncio.Transport | None = None
        self.peer = b"-"
        self.scheme = "http"
        self.server_port = 0
        self.status = 0  # of the response being written, for the access log
        self.sent = 0  # body bytes written, for the access log
        self.read_deadline = 0.0
        self.write_deadline = 0.0
        self.busy = False
        self.lost = False
        self.answered = 0  # responses finished on this connection
        self._parser = httptools.HttpRequestParser(self)
        self._queue: deque[Request] = deque()
        self._req: Request | None = None
        self._in_head = False
        self._head_pending = -1
        self._body_parts: list[bytes] = []
        self._counted = 0
        self._rejected = 0
        self._reading_stopped = False
        self._queue_paused = False
        self._write_paused = False
        self._eof = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        # A duplicate of the socket for zero-copy sending, made on the first big file.
        self._raw: socket.socket | None = None
        self._raw_possible = CAN_SENDFILE
        self._sender: FileSender | None = None
        #: The WebSocket session this connection was handed to, after its handshake.
        self.upgraded: WebSocketSession | None = None

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.peer = str(peer[0]).encode("ascii", "replace")
        if transport.get_extra_info("sslcontext") is not None:
            self.scheme = "https"
        sock = transport.get_extra_info("sockname")
        if isinstance(sock, tuple):
            self.server_port = int(sock[1])
        runtime = self.runtime
        if len(runtime.connections) >= self.limits.max_connections or runtime.stopping:
            self._reading_stopped = True
            self.write_error(503, keep_alive=False)
            transport.close()
            return
        runtime.connections.add(self)
        self.read_deadline = self.loop.time() + self.limits.request_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._queue.clear()
        self.runtime.connections.discard(self)
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("client went away"))
        self._drain_waiter = None
        if self.upgraded is not None:
            # A WebSocket application hears of it (websocket.disconnect) and gets a
            # moment to finish before it is cancelled.
            self.upgraded.lost()
            if self._task is not None:
                self.loop.call_later(self.limits.shutdown_timeout, self._task.cancel)
        elif self._task is not None:
            self._task.cancel()
        # The sender's registration is on the duplicate: drop it before closing that.
        if self._sender is not None:
            self._sender.close()
            self._sender = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    def eof_received(self) -> bool:
        # The client will send nothing more; answer what it already asked, then close.
        self._eof = True
        if self.upgraded is not None:
            return False
        return not (self._req is not None or not self.busy and not self._queue)

    def pause_writing(self) -> None:
        self._write_paused = True
        self.write_deadline = self.loop.time() + self.limits.send_timeout

    def resume_writing(self) -> None:
        self._write_paused = False
        self.write_deadline = 0.0
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._drain_waiter = None
        if not self.busy and self._queue:
            self._process()

    def data_received(self, data: bytes) -> None:
        if self.upgraded is not None:
            self.upgraded.feed(data)
            return
        if self._reading_stopped:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # A WebSocket handshake goes to an ASGI application when its turn comes; any
            # other upgrade is answered as a plain request, then the connection closes.
            if self._queue:
                req = self._queue[-1]
                req.keep_alive = False
                if self.runtime.websockets and wants_websocket(req):
                    offset = upgrade.args[0] if upgrade.args else len(data)
                    req.upgrade = bytes(data[offset:])
            self._stop_reading()
        except httptools.HttpParserInvalidMethodError:
            # A well-formed request with a method nobody here knows is 501 (RFC 9110
            # 15.6.2); a garbled request line stays 400.
            self._queue_error(self._rejected or (501 if _unknown_method_in(data) else 400))
        except httptools.HttpParserError as exc:
            code = self._rejected or (505 if "version" in str(exc).lower() else 400)
            self._queue_error(code)
        else:
            if self._in_head:
                # Bound what the parser may buffer for one unfinished header line.
                if self._head_pending >= 0:
                    self._head_pending += len(data)
                    limits = self.limits
                    if self._head_pending > limits.max_header_bytes + limits.max_url:
                        self._queue_error(431)
                else:
                    self._head_pending = 0
        if self._queue and not self.busy:
            self._process()

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        self._req = Request()
        self._in_head = True
        self._head_pending = -1
        self._counted = 0  # header bytes, then body bytes
        if not self.busy:
            self.read_deadline = self.loop.time() + self.limits.request_timeout

    def on_url(self, url: bytes) -> None:
        req = self._req
        assert req is not None
        req.url += url
        if len(req.url) > self.limits.max_url:
            self._reject(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        req = self._req
        assert req is not None
        headers = req.headers
        headers.append((name.lower(), value))
        if name[0] in _CONDITIONAL_INITIALS:
            req.conditional = True
        self._counted += len(name) + len(value)
        if self._counted > self.limits.max_header_bytes or len(headers) > self.limits.max_headers:
            self._reject(431)

    def on_headers_complete(self) -> None:
        req = self._req
        assert req is not None
        parser = self._parser
        self._in_head = False
        req.method = parser.get_method()
        version = req.version = parser.get_http_version()
        if version != "1.1":
            if version != "1.0":
                self._reject(505)
            req.http10 = True
        req.keep_alive = parser.should_keep_alive()
        if req.headers:
            self._check_head(req)
        elif not req.http10:
            self._reject(400)  # HTTP/1.1 requires Host
        self._counted = 0

    def _check_head(self, req: Request) -> None:
        host = length = expect = None
        for name, value in req.headers:
            if name == b"host":
                if host is not None:
                    self._reject(400)
                host = value
            elif name == b"content-length":
                length = value
            elif name == b"expect":
                expect = value
        if host is None and not req.http10:
            self._reject(400)
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                self._reject(400)
            if size > self.limits.max_body:
                self._reject(413)
        if expect is not None:
            if expect.lower() != b"100-continue":
                self._reject(417)
            # Only say "go on" when no other response could be interleaved with it.
            if not self.busy and not self._queue and self.transport is not None:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._counted += len(body)
        if self._counted > self.limits.max_body:
            self._reject(413)
        self._body_parts.append(body)

    def on_message_complete(self) -> None:
        req = self._req
        assert req is not None
        if self._body_parts:
            req.body = b"".join(self._body_parts)
            self._body_parts = []
        self._req = None
        self._queue.append(req)
        if len(self._queue) >= self.limits.max_pipeline and self.transport is not None:
            self._queue_paused = True
            self.transport.pause_reading()

    def _reject(self, code: int) -> NoReturn:
        self._rejected = code
        raise _Rejected(code)

    # -- answering requests in order

    def _queue_error(self, code: int) -> None:
        req = self._req or Request()
        self._req = None
        req.error = code
        req.keep_alive = False
        self._queue.append(req)
        self._stop_reading()

    def _stop_reading(self) -> None:
        self._reading_stopped = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def _process(self) -> None:
        queue = self._queue
        runtime = self.runtime
        while queue and not self.busy and not self._write_paused and not self.lost:
            req = queue.popleft()
            self.status = 0
            self.sent = 0
            if runtime.stopping:
                req.keep_alive = False
            if req.error:
                self.write_error(req.error, keep_alive=False, http10=req.http10)
                pending: Awaitable[None] | None = None
            else:
                try:
                    pending = runtime.respond(self, req)
                except Exception:
                    logger.exception("error answering %r", req.url)
                    self._fail(req)
                    pending = None
            if pending is not None:
                self.busy = True
                self._task = self.loop.create_task(self._complete(req, pending))
                return
            self._finish(req)
        if self._queue_paused and len(queue) <= 1 and not self.lost and self.transport:
            self._queue_paused = False
            if not self._reading_stopped:
                self.transport.resume_reading()
        if not queue and not self.busy:
            self._idle()

    async def _complete(self, req: Request, pending: Awaitable[None]) -> None:
        try:
            await pending
        except asyncio.CancelledError:
            self.abort()
            return
        except (ConnectionError, OSError) as exc:
            logger.debug("connection from %s dropped: %s", self.peer, exc)
            self.abort()
            return
        except ResponseFailed:
            self._fail(req)
        except Exception:
            logger.exception("error answering %r", req.url)
            self._fail(req)
        finally:
            self.busy = False
            self._task = None
        if self.lost:
            return
        self._finish(req)
        self._process()

    def _fail(self, req: Request) -> None:
        if self.status:  # the head is out: the only honest signal left is a cut connection
            req.keep_alive = False
            self.abort()
        else:
            req.keep_alive = False
            self.write_error(500, keep_alive=False, http10=req.http10)

    def _finish(self, req: Request) -> None:
        self.answered += 1
        log = self.runtime.access_log
        if log is not None:
            log.log(self, req)
        if not req.keep_alive:
            self._queue.clear()
            self._reading_stopped = True
            if self.transport is not None:
                self.transport.close()

    def _idle(self) -> None:
        if self._eof and self._req is None:
            if self.transport is not None:
                self.transport.close()
            return
        limits = self.limits
        timeout = limits.request_timeout if self._req is not None else limits.idle_timeout
        self.read_deadline = self.loop.time() + timeout

    # -- WebSocket sessions

    def take_over(self, session: WebSocketSession) -> None:
        """Hand every byte from now on to ``session`` (its handshake was accepted)."""
        self.upgraded = session
        self._reading_stopped = False
        early, session.req.upgrade = session.req.upgrade, b""
        if early:  # frames the client sent right behind its handshake
            session.feed(early)
        self.resume_upgraded()

    def pause_upgraded(self) -> None:
        """Stop reading for a session whose application lags behind."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_upgraded(self) -> None:
        """Read again for a session."""
        if self.transport is not None and not self.transport.is_closing() and not self.lost:
            self.transport.resume_reading()

    # -- what responders use

    def write(self, data: bytes) -> None:
        """Queue bytes on the socket (never blocks; see :meth:`drain`)."""
        if self.transport is not None and not self.lost:
            self.transport.write(data)

    @property
    def writing_paused(self) -> bool:
        """Whether the outgoing buffer is above its high-water mark (see :meth:`drain`)."""
        return self._write_paused

    async def drain(self) -> None:
        """Wait until the socket's outgoing buffer is below its high-water mark."""
        if self.lost:
            raise ConnectionResetError("client went away")
        if not self._write_paused:
            return
        waiter = self._drain_waiter
        if waiter is None:
            waiter = self._drain_waiter = self.loop.create_future()
        await waiter

    def write_error(
        self,
        code: int,
        *,
        keep_alive: bool,
        http10: bool = False,
        extra: bytes = b"",
        head_only: bool = False,
    ) -> None:
        """Write a complete error response with a small HTML body."""
        body = error_body(code)
        self.status = code
        self.sent = 0 if head_only else len(body)
        head = b"".join(
            (
                status_line(code),
                self.runtime.clock.server_date(),
                b"Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n" % len(body),
                extra,
                connection_header(keep_alive, http10),
                b"\r\n",
            )
        )
        self.write(head if head_only else head + body)

    def send_file(self, path: bytes, pieces: Pieces) -> Awaitable[None] | None:
        """Send ``pieces`` (bytes, then a range of the file at ``path``) as one response.

        Plain TCP goes zero-copy on the raw socket and usually finishes within this call
        (then None is returned); otherwise the returned awaitable finishes it. TLS, and a
        file the kernel cannot ``sendfile``, are copied through the transport. A file
        removed since its ``stat`` drops the connection before any byte is sent.
        """
        raw = self._raw_socket()
        transport = self.transport
        if raw is None or transport is None or transport.get_write_buffer_size():
            return self._send_file_later(path, pieces)
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            logger.debug("dropping %s: cannot open %r: %s", self.peer, path, exc)
            self.abort()
            return None
        sender = FileSender(self, raw, fd, pieces)
        if sender.send() and not sender.unsupported:
            sender.close()
            if sender.error is not None:
                logger.debug("connection from %s dropped: %s", self.peer, sender.error)
                self.abort()
            return None
        self._sender = sender
        return self._sending(sender)

    async def _sending(self, sender: FileSender) -> None:
        try:
            await sender.wait()
            if sender.error is not None:
                raise sender.error
            if sender.unsupported:
                await self._copy_pieces(sender.file_fd, sender.remaining())
        finally:
            sender.close()
            if self._sender is sender:
                self._sender = None

    async def _send_file_later(self, path: bytes, pieces: Pieces) -> None:
        if self._raw_socket() is not None:
            await self._flushed()
            pending = self.send_file(path, pieces)
            if pending is not None:
                await pending
            return
        fd = os.open(path, _OPEN_FLAGS)
        try:
            await self._copy_pieces(fd, pieces)
        finally:
            os.close(fd)

    def _raw_socket(self) -> socket.socket | None:
        """The duplicate socket for zero-copy sending; None when that cannot be used."""
        raw = self._raw
        if raw is None and self._raw_possible and self.scheme == "http":
            self._raw_possible = False  # one attempt per connection
            transport = self.transport
            if transport is None or transport.is_closing() or self.lost:
                return None
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    dup = os.dup(sock.fileno())
                except OSError:
                    return None
                # Family and type given, so nothing is asked of the kernel; the duplicate
                # shares the non-blocking mode of the original, which is what we want.
                raw = self._raw = socket.socket(sock.family, sock.type, sock.proto, dup)
        return raw

    async def _flushed(self) -> None:
        """Wait until the transport has written everything it holds."""
        transport = self.transport
        while transport is not None and transport.get_write_buffer_size():
            low, high = transport.get_write_buffer_limits()
            # A zero high-water mark pauses writing until the buffer is empty.
            transport.set_write_buffer_limits(high=0)
            try:
                await self.drain()
            finally:
                if not transport.is_closing():
                    transport.set_write_buffer_limits(high, low)

    async def _copy_pieces(self, fd: int, pieces: Pieces) -> None:
        for data, offset, count in pieces:
            if data:
                self.write(data)
            await self._copy_file(fd, offset, count)

    async def _copy_file(self, fd: int, offset: int, count: int) -> None:
        end = offset + count
        while offset < end:
            chunk = os.pread(fd, min(_FALLBACK_CHUNK, end - offset), offset)
            if not chunk:
                raise ConnectionAbortedError("file shrank while being sent")
            self.write(chunk)
            offset += len(chunk)
            self.sent += len(chunk)
            if self._write_paused:
                await self.drain()
            elif self.lost:
                raise ConnectionResetError("client went away")

    def abort(self) -> None:
        """Drop the connection now, discarding anything unsent."""
        self._queue.clear()
        self._reading_stopped = True
        if self.transport is not None:
            self.transport.abort()

    def idle(self) -> bool:
        """Whether nothing is in progress: no request half-read, queued or being answered."""
        return not self.busy and not self._queue and self._req is None

    def close_if_idle(self) -> bool:
        """Close this keep-alive connection if it waits for its next request; whether it did.

        The server calls it when it runs short of file descriptors, so that clients waiting
        to connect get in. HTTP lets a server close an idle connection at any time; clients
        open a new one for their next request.
        """
        # Only between requests: a connection not answered yet may hold a request still
        # unread in its socket buffer (closing would reset it and lose the request).
        if not self.answered or self.lost or self._reading_stopped or self._write_paused:
            return False
        if not self.idle():
            return False
        self._reading_stopped = True
        if self.transport is not None:
            self.transport.close()
        return True

    def time_out(self) -> None:
        """A deadline passed: tell a client that is mid-request, then close."""
        self.read_deadline = 0.0
        if self._req is not None and not self.busy and not self._queue:
            self._reading_stopped = True
            self.write_error(408, keep_alive=False)
            if self.transport is not None:
                self.transport.close()
        else:
            self.abort()
