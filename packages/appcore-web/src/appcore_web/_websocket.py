"""WebSocket (RFC 6455) for ASGI applications: the ``websocket`` scope, framed by wsproto.

An HTTP connection whose request asks to upgrade to a WebSocket is handed to a
:class:`WebSocketSession` when that request's turn comes: wsproto checks the handshake and
frames the messages; the application sees ASGI events. A message longer than the site's
``ws_max_message`` closes the connection with code 1009, before it is held whole in
memory; reading pauses while the application has messages it has not taken yet.
Compression (permessage-deflate) is not offered: a small compressed frame could inflate
to far more than the limit at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

if TYPE_CHECKING:
    from appcore_web._asgi import ASGIApp
    from appcore_web._http import HTTPConnection
    from appcore_web._http import Request as HTTPRequest

logger = logging.getLogger("appcore.web.websocket")

Event = dict[str, Any]
# Messages the application has not received yet before reading from the client pauses.
_INBOX_PAUSE = 16
# How long a closing handshake the server started waits for the client's answer.
_CLOSE_WAIT = 2.0


class WebSocketSession:
    """One upgraded connection, from handshake to close, driving one application call."""

    def __init__(self, conn: HTTPConnection, req: HTTPRequest, app: ASGIApp, spec: str) -> None:
        self.conn = conn
        self.req = req
        self.app = app
        self.spec = spec
        self.max_message = int(conn.limits.ws_max_message)
        self.ws = WSConnection(ConnectionType.SERVER)
        self.state = "connecting"  # then "open", "closed"
        self.connect_given = False
        self.inbox: deque[Event] = deque()
        self.arrived = asyncio.Event()
        self.closed_by_peer: asyncio.Future[None] = conn.loop.create_future()
        self.parts: list[bytes | str] = []
        self.size = 0
        self.paused = False
        self.disconnect: Event | None = None

    # -- the handshake and the application's run

    async def run(self, scope: dict[str, Any]) -> None:
        """Check the handshake, run the application, close the connection properly."""
        conn = self.conn
        try:
            self.ws.initiate_upgrade_connection(self.req.headers, self.req.url)
            request = next(e for e in self.ws.events() if isinstance(e, Request))
        except (RemoteProtocolError, StopIteration) as err:
            hint = getattr(err, "event_hint", None)
            code = hint.status_code if isinstance(hint, RejectConnection) else 400
            extra = b"".join(b"%s: %s\r\n" % h for h in getattr(hint, "headers", ()))
            logger.debug("refused WebSocket handshake from %s: %s", conn.peer, err)
            conn.write_error(code, keep_alive=False, extra=extra)
            return
        scope["subprotocols"] = list(request.subprotocols)
        try:
            await self.app(scope, self.receive, self.send)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception:
            logger.exception("ASGI application %s failed (WebSocket)", self.spec)
            self._end(CloseReason.INTERNAL_ERROR, 500)
        else:
            if self.state == "connecting":
                logger.error("ASGI application %s returned without accepting", self.spec)
            self._end(CloseReason.NORMAL_CLOSURE, 500)
        if self.ws.state is ConnectionState.LOCAL_CLOSING and not conn.lost:
            # Let the client answer our close frame before the connection ends.
            try:
                await asyncio.wait_for(asyncio.shield(self.closed_by_peer), _CLOSE_WAIT)
            except TimeoutError:
                pass

    def _end(self, code: int, http_status: int) -> None:
        """After the application: refuse a handshake it never answered, or close."""
        if self.state == "connecting":
            self.conn.write_error(http_status, keep_alive=False)
        elif self.state == "open":
            self._close(code, "")
        self.state = "closed"

    # -- ASGI receive and send

    async def receive(self) -> Event:
        if not self.connect_given:
            self.connect_given = True
            return {"type": "websocket.connect"}
        while not self.inbox:
            if self.disconnect is not None:
                return self.disconnect
            self.arrived.clear()
            await self.arrived.wait()
        event = self.inbox.popleft()
        if self.paused and len(self.inbox) < _INBOX_PAUSE // 2:
            self.paused = False
            self.conn.resume_upgraded()
        return event

    async def send(self, message: MutableMapping[str, Any]) -> None:
        kind = message.get("type")
        conn = self.conn
        if conn.lost or self.disconnect is not None:
            raise ConnectionResetError("the WebSocket is closed")
        if kind == "websocket.accept":
            if self.state != "connecting":
                raise RuntimeError("websocket.accept sent twice or after close")
            headers = [(bytes(n), bytes(v)) for n, v in message.get("headers", ())]
            data = self.ws.send(
                AcceptConnection(subprotocol=message.get("subprotocol"), extra_headers=headers)
            )
            conn.status = 101
            self.state = "open"
            conn.write(data)
            conn.take_over(self)
        elif kind == "websocket.send":
            if self.state != "open":
                raise RuntimeError("websocket.send before websocket.accept or after close")
            text, payload = message.get("text"), message.get("bytes")
            if text is not None:
                conn.write(self.ws.send(TextMessage(data=str(text))))
            else:
                conn.write(self.ws.send(BytesMessage(data=bytes(payload or b""))))
        elif kind == "websocket.close":
            if self.state == "connecting":
                self.conn.write_error(403, keep_alive=False)
            elif self.state == "open":
                self._close(int(message.get("code") or 1000), message.get("reason") or "")
            self.state = "closed"
            return
        else:
            raise RuntimeError(f"unexpected ASGI message type {kind!r}")
        await conn.drain()

    def _close(self, code: int, reason: str) -> None:
        try:
            self.conn.write(self.ws.send(CloseConnection(code=code, reason=reason)))
        except LocalProtocolError:
            pass  # the client closed first; its close was answered already

    # -- what the connection feeds in

    def feed(self, data: bytes) -> None:
        """Bytes from the client, after the handshake."""
        if self.ws.state in (ConnectionState.CLOSED, ConnectionState.REJECTING):
            return
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                if self.disconnect is None:  # after a close, what still comes is dropped
                    self._message_part(event)
            elif isinstance(event, Ping):
                self.conn.write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self._closing(event)
                if not self.closed_by_peer.done():
                    self.closed_by_peer.set_result(None)
                return

    def _message_part(self, event: Message[Any]) -> None:
        part = event.data
        self.size += len(part.encode()) if isinstance(part, str) else len(part)
        if self.size > self.max_message:
            logger.debug(
                "closing WebSocket from %s: message over %d bytes",
                self.conn.peer,
                self.max_message,
            )
            self._close(CloseReason.MESSAGE_TOO_BIG, "message too big")
            self._disconnected(CloseReason.MESSAGE_TOO_BIG, "message too big")
            return
        self.parts.append(part)
        if not event.message_finished:
            return
        if isinstance(event, TextMessage):
            text = "".join(p for p in self.parts if isinstance(p, str))
            self.inbox.append({"type": "websocket.receive", "text": text})
        else:
            data = b"".join(p for p in self.parts if isinstance(p, bytes | bytearray))
            self.inbox.append({"type": "websocket.receive", "bytes": data})
        self.parts, self.size = [], 0
        self.arrived.set()
        if len(self.inbox) >= _INBOX_PAUSE and not self.paused:
            self.paused = True
            self.conn.pause_upgraded()

    def _closing(self, event: CloseConnection) -> None:
        if self.ws.state is ConnectionState.REMOTE_CLOSING:
            self.conn.write(self.ws.send(event.response()))  # the client closed: answer
        elif self.ws.state is ConnectionState.OPEN:
            # Not a close frame but a protocol error (bad frame, bad UTF-8): close with it.
            self._close(event.code, "")
        self._disconnected(event.code, event.reason or "")

    def _disconnected(self, code: int, reason: str) -> None:
        if self.disconnect is None:
            self.disconnect = {"type": "websocket.disconnect", "code": int(code), "reason": reason}
        self.state = "closed"
        self.arrived.set()
        if self.paused:  # the client's answer to a close must still be read
            self.paused = False
            self.conn.resume_upgraded()

    def lost(self) -> None:
        """The connection is gone (no close frame: code 1006)."""
        self._disconnected(CloseReason.ABNORMAL_CLOSURE, "")
        if not self.closed_by_peer.done():
            self.closed_by_peer.set_result(None)

    def going_away(self) -> None:
        """The server stops: close with 1001."""
        if self.state == "open":
            self._close(CloseReason.GOING_AWAY, "server stopping")
            self._disconnected(CloseReason.GOING_AWAY, "server stopping")
