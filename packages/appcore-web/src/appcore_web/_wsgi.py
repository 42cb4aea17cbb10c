"""Hosting a WSGI application (PEP 3333) in a thread pool.

The application runs in a worker thread. A list or tuple result comes back to the event
loop in one piece and goes out with a ``Content-Length``; any other iterable, and the
``write`` callable, stream: each block is handed to the loop as soon as it is produced
(chunked unless the application declared a length), and while the client does not keep up
the thread waits for the socket to drain, so a slow client holds back the application
instead of filling memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from appcore_web._apps import ResponseBody, load_app
from appcore_web._http import ResponseFailed

if TYPE_CHECKING:
    from appcore_web._http import HTTPConnection, Request
    from appcore_web._response import Clock

logger = logging.getLogger("appcore.web.wsgi")

_CHECK_EVERY = 256 * 1024
_WAIT_SLICE = 1.0  # seconds between checks that the loop still runs, waiting for a drain
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
    """One request's trip through the application, on a worker thread.

    PEP 3333 forbids holding a block back: each block the application yields (or passes to
    ``write``) goes to the socket before the next is asked for, chunked unless the
    application declared a ``Content-Length``. Only a list or tuple, whose blocks all exist
    already, is sent as one piece with a ``Content-Length``.
    """

    def __init__(self, conn: HTTPConnection, req: Request, clock: Clock, spec: str) -> None:
        self.conn = conn
        self.clock = clock
        self.loop = conn.loop
        self.status: bytes | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = ResponseBody(conn, req, spec)
        self.unchecked = 0  # bytes handed to the loop since the last look at its buffer

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            if self.body.head_sent:
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            raise RuntimeError("start_response called twice without exc_info")
        self.status = status.encode("latin-1")
        self.headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333's ``write`` callable: the block is on its way when this returns."""
        if self.status is None:
            raise RuntimeError("write() before start_response()")
        if data:
            self._send(self._frame(data))

    def run(self, app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> list[bytes]:
        """Call the application; returns the rest of the response for the loop to write."""
        result = app(environ, self.start_response)
        try:
            if isinstance(result, list | tuple) and not self.body.head_sent:
                return self._whole(result)
            for data in result:
                if data:
                    self._send(self._frame(data))
                    if self.body.overrun:
                        break  # nothing more can be sent: stop asking for blocks
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if self.status is None:
            raise RuntimeError("the application returned without calling start_response()")
        out = [] if self.body.head_sent else [self._head(0)]
        out.append(self.body.end())
        return out

    def _whole(self, blocks: list[bytes] | tuple[bytes, ...]) -> list[bytes]:
        if self.status is None:
            raise RuntimeError("the application returned without calling start_response()")
        out = [self._head(sum(len(b) for b in blocks))]
        out += [self.body.piece(bytes(b)) for b in blocks if b]
        out.append(self.body.end())
        return out

    def _head(self, length: int | None) -> bytes:
        assert self.status is not None
        return self.body.head(self.status, self.headers, length, self.clock)

    def _frame(self, data: bytes) -> bytes:
        head = b"" if self.body.head_sent else self._head(None)
        return head + self.body.piece(bytes(data))

    def _send(self, data: bytes) -> None:
        """Hand ``data`` to the loop now; wait (bounded) while the client is not reading."""
        conn = self.conn
        if conn.lost:
            raise ConnectionResetError("client went away")
        if data:
            self.loop.call_soon_threadsafe(conn.write, data)
            self.unchecked += len(data)
        # The loop runs the writes in order; a drain queued behind them sees the buffer as
        # they leave it. Asked every _CHECK_EVERY bytes, it bounds what the loop may hold.
        if conn.writing_paused or self.unchecked >= _CHECK_EVERY:
            self.unchecked = 0
            future = asyncio.run_coroutine_threadsafe(conn.drain(), self.loop)
            while True:
                try:
                    future.result(_WAIT_SLICE)
                    return
                except concurrent.futures.TimeoutError:
                    # A loop that stopped will never answer: give up rather than hang
                    # the thread (and with it the interpreter's exit).
                    if not self.loop.is_running():
                        future.cancel()
                        raise ConnectionAbortedError("the server stopped") from None


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
        exchange = _Exchange(conn, req, self.clock, self.spec)
        environ = build_environ(conn, req)
        try:
            rest = await loop.run_in_executor(self._pool, exchange.run, app, environ)
        except ConnectionError:
            raise  # the client went away: nothing to report
        except Exception:
            if not exchange.body.head_sent:
                conn.status = 0  # nothing was written: the connection answers 500
            logger.exception("WSGI application %s failed", self.spec)
            raise ResponseFailed from None
        for data in rest:
            conn.write(data)
