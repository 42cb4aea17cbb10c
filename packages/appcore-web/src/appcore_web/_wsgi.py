"""Hosting a WSGI application (PEP 3333) in a thread pool.

The application runs in a worker thread. Its output is collected there; a small response
comes back to the event loop in one piece and goes out with a ``Content-Length``. Once the
output passes a threshold (or the application uses the ``write`` callable's streaming),
pieces are handed to the loop as they come, chunked, and the thread waits for the socket to
drain: a slow client holds back the application instead of filling memory.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from appcore_web._apps import LAST_CHUNK, chunk, load_app, response_head
from appcore_web._http import ResponseFailed

if TYPE_CHECKING:
    from appcore_web._http import HTTPConnection, Request
    from appcore_web._response import Clock

logger = logging.getLogger("appcore.web.wsgi")

_STREAM_AT = 64 * 1024
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class _ErrorStream:
    """``wsgi.errors``: what the application writes there goes to the log."""

    def write(self, text: str) -> int:
        if text.strip():
            logger.error("%s", text.rstrip())
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass


_ERRORS = _ErrorStream()


def build_environ(conn: HTTPConnection, req: Request) -> dict[str, Any]:
    """The PEP 3333 environ of ``req``."""
    url = req.url
    path, _, query = url.partition(b"?")
    if not path.startswith(b"/") and b"://" in path:  # absolute-form target
        rest = path.partition(b"://")[2]
        slash = rest.find(b"/")
        path = rest[slash:] if slash >= 0 else b"/"
    host_header = req.header(b"host")
    host = host_header.decode("latin-1") if host_header else ""
    server_name = host.rpartition(":")[0] if host.rpartition(":")[2].isdigit() else host
    environ: dict[str, Any] = {
        "REQUEST_METHOD": req.method.decode("latin-1"),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query.partition(b"#")[0].decode("latin-1"),
        "SERVER_NAME": server_name or "localhost",
        "SERVER_PORT": str(conn.server_port),
        "SERVER_PROTOCOL": "HTTP/" + req.version,
        "REMOTE_ADDR": conn.peer.decode("ascii", "replace"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": conn.scheme,
        "wsgi.input": io.BytesIO(req.body),
        "wsgi.input_terminated": True,
        "wsgi.errors": _ERRORS,
        "wsgi.multithread": True,
        "wsgi.multiprocess": conn.runtime.multiprocess,
        "wsgi.run_once": False,
    }
    for name, value in req.headers:
        text = value.decode("latin-1")
        if name == b"content-type":
            environ["CONTENT_TYPE"] = text
            continue
        if name == b"content-length":
            environ["CONTENT_LENGTH"] = text
            continue
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        if key in environ:
            environ[key] += "," + text
        else:
            environ[key] = text
    if req.body and "CONTENT_LENGTH" not in environ:  # a chunked body, now complete
        environ["CONTENT_LENGTH"] = str(len(req.body))
    return environ


class _Exchange:
    """One request's trip through the application, on a worker thread."""

    def __init__(
        self, conn: HTTPConnection, req: Request, clock: Clock, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.conn = conn
        self.req = req
        self.clock = clock
        self.loop = loop
        self.status: bytes | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.head_sent = False
        self.chunked = False
        self.with_body = True

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            if self.head_sent:
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            raise RuntimeError("start_response called twice without exc_info")
        self.status = status.encode("latin-1")
        self.headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
        return self.write

    def write(self, data: bytes) -> None:
        if self.status is None:
            raise RuntimeError("write() before start_response()")
        if not data:
            return
        self.pending.append(data)
        self.pending_size += len(data)
        if self.pending_size >= _STREAM_AT:
            self._flush(final=False)

    def run(self, app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> bytes:
        """Call the application; returns the rest of the response for the loop to write."""
        result = app(environ, self.start_response)
        try:
            for data in result:
                self.write(data)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if self.status is None:
            raise RuntimeError("the application returned without calling start_response()")
        return self._frame(final=True)

    def _frame(self, *, final: bool) -> bytes:
        body = b"".join(self.pending)
        self.pending.clear()
        self.pending_size = 0
        out: list[bytes] = []
        if not self.head_sent:
            assert self.status is not None
            length = len(body) if final else None
            head, self.chunked, self.with_body = response_head(
                self.conn, self.req, self.status, self.headers, length, self.clock
            )
            self.head_sent = True
            out.append(head)
        if self.with_body:
            if self.chunked:
                if body:
                    out.append(chunk(body))
                if final:
                    out.append(LAST_CHUNK)
            else:
                out.append(body)
            self.conn.sent += len(body)
        return b"".join(out)

    def _flush(self, *, final: bool) -> None:
        data = self._frame(final=final)
        asyncio.run_coroutine_threadsafe(self._send(data), self.loop).result()

    async def _send(self, data: bytes) -> None:
        self.conn.write(data)
        await self.conn.drain()


class WSGIResponder:
    """Answers every request with the WSGI application named ``spec``."""

    def __init__(self, spec: str, *, threads: int, clock: Clock) -> None:
        self.spec = spec
        self.threads = threads
        self.clock = clock
        self._app: Callable[..., Iterable[bytes]] | None = None
        self._pool: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._ensure_started()

    def _ensure_started(self) -> Callable[..., Iterable[bytes]]:
        if self._app is None:
            self._app = load_app(self.spec)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="wsgi")
        return self._app

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # Requests in flight were waited for already; a stuck one must not block exit.
            pool.shutdown(wait=False, cancel_futures=True)

    def respond(self, conn: HTTPConnection, req: Request) -> Any:
        return self._call(conn, req)

    async def _call(self, conn: HTTPConnection, req: Request) -> None:
        app = self._ensure_started()
        loop = conn.loop
        exchange = _Exchange(conn, req, self.clock, loop)
        environ = build_environ(conn, req)
        try:
            rest = await loop.run_in_executor(self._pool, exchange.run, app, environ)
        except Exception:
            if not exchange.head_sent:
                conn.status = 0  # nothing was written: the connection answers 500
            logger.exception("WSGI application %s failed", self.spec)
            raise ResponseFailed from None
        conn.write(rest)
