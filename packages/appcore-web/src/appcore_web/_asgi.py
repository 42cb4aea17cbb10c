"""Hosting an ASGI 3 application: the ``http`` scope, and ``lifespan`` when the app has it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from appcore import UnavailableError
from appcore_web._apps import ResponseBody, load_app
from appcore_web._http import ResponseFailed

if TYPE_CHECKING:
    from appcore_web._http import HTTPConnection, Request
    from appcore_web._response import Clock

logger = logging.getLogger("appcore.web.asgi")

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]
_LIFESPAN_TIMEOUT = 10.0
_ASGI = {"version": "3.0", "spec_version": "2.3"}


class _Exchange:
    """The receive and send callables of one request."""

    def __init__(self, conn: HTTPConnection, req: Request, clock: Clock, spec: str) -> None:
        self.conn = conn
        self.req = req
        self.clock = clock
        self.body_given = False
        self.status: bytes | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = ResponseBody(conn, req, spec)
        self.complete = False
        self.finished: asyncio.Future[None] = conn.loop.create_future()

    async def receive(self) -> Message:
        if not self.body_given:
            self.body_given = True
            return {"type": "http.request", "body": self.req.body, "more_body": False}
        # Nothing more will come: the next event is the end of this exchange.
        await asyncio.shield(self.finished)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        conn = self.conn
        if conn.lost:
            raise ConnectionResetError("client went away")
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("http.response.start sent twice")
            code = int(message["status"])
            self.status = b"%d %s" % (code, _phrase(code))
            self.headers = [(bytes(n), bytes(v)) for n, v in message.get("headers", ())]
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message type {kind!r}")
        if self.status is None:
            raise RuntimeError("http.response.body before http.response.start")
        if self.complete:
            return
        data = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        body = self.body
        out: list[bytes] = []
        if not body.head_sent:
            length = None if more else len(data)
            out.append(body.head(self.status, self.headers, length, self.clock))
        out.append(body.piece(data))
        if not more:
            out.append(body.end())
        if not more or body.overrun:
            # Past its Content-Length nothing more can go out: the application is told
            # (http.disconnect) so that a stream stops.
            self.complete = True
            self._finish()
        conn.write(b"".join(out))
        await conn.drain()

    def _finish(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


def _phrase(code: int) -> bytes:
    from appcore_web._response import reason_phrase

    return reason_phrase(code)


class ASGIResponder:
    """Answers every request with the ASGI application named ``spec``."""

    def __init__(self, spec: str, *, clock: Clock) -> None:
        self.spec = spec
        self.clock = clock
        self._app: ASGIApp | None = None
        self._lifespan: asyncio.Task[None] | None = None
        self._lifespan_inbox: asyncio.Queue[Message] | None = None
        self._lifespan_outbox: asyncio.Queue[Message] | None = None
        self.state: dict[str, Any] = {}

    def _ensure_app(self) -> ASGIApp:
        if self._app is None:
            self._app = load_app(self.spec)
        return self._app

    async def start(self) -> None:
        """Import the application and run its lifespan startup, if it speaks lifespan."""
        app = self._ensure_app()
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        outbox: asyncio.Queue[Message] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": _ASGI, "state": self.state}

        async def run() -> None:
            error: Exception | None = None
            try:
                await app(scope, inbox.get, outbox.put)
            except Exception as err:
                # An app without lifespan support raises on the unknown scope: not an error.
                error = err
            # Returning (or raising) before startup completed means "no lifespan here".
            await outbox.put({"type": "appcore.lifespan.unsupported", "error": error})

        self._lifespan = asyncio.ensure_future(run())
        await inbox.put({"type": "lifespan.startup"})
        reply = await asyncio.wait_for(outbox.get(), _LIFESPAN_TIMEOUT)
        if reply["type"] == "lifespan.startup.failed":
            raise UnavailableError(
                f"application {self.spec} failed to start: {reply.get('message', '')}"
            )
        if reply["type"] != "lifespan.startup.complete":
            logger.debug("%s has no lifespan support: %s", self.spec, reply.get("error"))
            self._lifespan = None
            return
        self._lifespan_inbox, self._lifespan_outbox = inbox, outbox

    async def stop(self) -> None:
        """Run the lifespan shutdown (bounded in time)."""
        task, self._lifespan = self._lifespan, None
        if task is None or self._lifespan_inbox is None or self._lifespan_outbox is None:
            return
        try:
            await self._lifespan_inbox.put({"type": "lifespan.shutdown"})
            await asyncio.wait_for(self._lifespan_outbox.get(), _LIFESPAN_TIMEOUT)
        except TimeoutError:
            logger.warning("%s did not finish its lifespan shutdown in time", self.spec)
        finally:
            if not task.done():
                task.cancel()

    def respond(self, conn: HTTPConnection, req: Request) -> Awaitable[None]:
        if req.upgrade is not None:
            return self._websocket(conn, req)
        return self._call(conn, req)

    async def _websocket(self, conn: HTTPConnection, req: Request) -> None:
        from appcore_web._websocket import WebSocketSession

        session = WebSocketSession(conn, req, self._ensure_app(), self.spec)
        scope = self._scope(conn, req)
        scope["type"] = "websocket"
        scope["scheme"] = "wss" if conn.scheme == "https" else "ws"
        del scope["method"]
        await session.run(scope)

    async def _call(self, conn: HTTPConnection, req: Request) -> None:
        app = self._ensure_app()
        exchange = _Exchange(conn, req, self.clock, self.spec)
        try:
            await app(self._scope(conn, req), exchange.receive, exchange.send)
            if not exchange.complete:
                raise RuntimeError("the application returned before completing its response")
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception:
            if not exchange.body.head_sent:
                conn.status = 0
            logger.exception("ASGI application %s failed", self.spec)
            raise ResponseFailed from None
        finally:
            exchange._finish()

    def _scope(self, conn: HTTPConnection, req: Request) -> dict[str, Any]:
        raw_path, _, query = req.url.partition(b"?")
        transport = conn.transport
        server = transport.get_extra_info("sockname") if transport else None
        client = transport.get_extra_info("peername") if transport else None
        return {
            "type": "http",
            "asgi": _ASGI,
            "http_version": req.version,
            "method": req.method.decode("latin-1"),
            "scheme": conn.scheme,
            "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
            "raw_path": raw_path,
            "query_string": query.partition(b"#")[0],
            "root_path": "",
            "headers": list(req.headers),
            "client": tuple(client[:2]) if isinstance(client, tuple) else None,
            "server": tuple(server[:2]) if isinstance(server, tuple) else None,
            "state": dict(self.state),
        }
