"""What the WSGI and ASGI adapters share: loading ``module:app`` and framing responses."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from appcore import UnavailableError
from appcore_web._response import connection_header

if TYPE_CHECKING:
    from appcore_web._http import HTTPConnection, Request
    from appcore_web._response import Clock

_FORBIDDEN = (b"\r", b"\n", b"\x00")
# Hop-by-hop framing is the server's business (PEP 3333, ASGI spec): applications' own
# values for these are dropped and replaced by what the server actually does.
_FRAMING = frozenset({b"transfer-encoding", b"connection", b"keep-alive"})
_NO_BODY_STATUS = frozenset({204, 304})
_MAX_LENGTH_DIGITS = 19
logger = logging.getLogger("appcore.web")


def load_app(spec: str) -> Any:
    """Import ``module:attribute`` (dots allowed in both) and return the attribute.

    The current folder is put on the import path first, as other servers do, so
    ``--wsgi myapp:app`` finds ``./myapp.py``.
    """
    module_name, _, attribute = spec.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as err:
        raise UnavailableError(
            f"cannot import application {spec}: {type(err).__name__}: {err}"
        ) from err
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UnavailableError(
                f"application {spec}: {module_name} has no {attribute}"
            ) from None
    if not callable(target):
        raise UnavailableError(f"application {spec} is not callable")
    return target


def response_head(
    conn: HTTPConnection,
    req: Request,
    status: bytes,
    headers: list[tuple[bytes, bytes]],
    length: int | None,
    clock: Clock,
) -> tuple[bytes, bool, int | None, bool]:
    """The encoded head of an application's response.

    ``length`` is the body size when the whole body is already known. Returns the head,
    whether the body must be sent chunked, the ``Content-Length`` the head declares (None
    for a chunked or close-delimited body) and whether a body is sent at all (not for HEAD,
    1xx, 204, 304). Raises ``ValueError`` for a malformed status, a header that would split
    the response or a bad ``Content-Length``.
    """
    if len(status) < 3 or not status[:3].isdigit() or (len(status) > 3 and status[3:4] != b" "):
        raise ValueError(f"malformed status {status!r}")
    code = int(status[:3])
    if any(c in status for c in _FORBIDDEN):
        raise ValueError(f"malformed status {status!r}")
    parts = [b"HTTP/1.1 ", status, b"\r\n"]
    app_length: int | None = None
    has_date = has_server = False
    for name, value in headers:
        if any(c in name or c in value for c in _FORBIDDEN) or not name or b":" in name:
            raise ValueError(f"malformed response header {name!r}: {value!r}")
        lower = name.lower()
        if lower in _FRAMING:
            if lower == b"connection" and b"close" in value.lower():
                req.keep_alive = False
            continue
        if lower == b"content-length":
            declared = value.strip()
            if not declared.isdigit() or len(declared) > _MAX_LENGTH_DIGITS:
                raise ValueError(f"malformed Content-Length {value!r}")
            if app_length is not None and app_length != int(declared):
                raise ValueError("conflicting Content-Length headers")
            if app_length is not None:
                continue  # the same value twice: send it once
            app_length = int(declared)
        elif lower == b"date":
            has_date = True
        elif lower == b"server":
            has_server = True
        parts += (name, b": ", value, b"\r\n")
    if not has_date and not has_server:
        parts.append(clock.server_date())
    elif not has_date:
        parts.append(clock.server_date().partition(b"\r\n")[2])
    with_body = req.method != b"HEAD" and code not in _NO_BODY_STATUS and code >= 200
    chunked = False
    to_send = app_length
    if app_length is None and (with_body or length is not None) and code not in _NO_BODY_STATUS:
        if length is not None:
            parts.append(b"Content-Length: %d\r\n" % length)
            to_send = length
        elif not req.http10:
            parts.append(b"Transfer-Encoding: chunked\r\n")
            chunked = with_body
        else:
            req.keep_alive = False  # the end of the body is the end of the connection
    parts.append(connection_header(req.keep_alive, req.http10))
    parts.append(b"\r\n")
    conn.status = code
    return b"".join(parts), chunked, to_send, with_body


def chunk(data: bytes) -> bytes:
    """``data`` framed as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


class ResponseBody:
    """An application's response as it goes on the wire: the head, then the body.

    The body goes chunked, or is held to the ``Content-Length`` the head declares: bytes
    past it are never sent (a keep-alive client would read them as the next response), and
    a body that ends short closes the connection (the client would wait for the rest until
    a timeout). Either is the application's fault and is logged as its error.
    """

    __slots__ = (
        "app",
        "chunked",
        "conn",
        "declared",
        "head_sent",
        "overrun",
        "req",
        "sent",
        "with_body",
    )

    def __init__(self, conn: HTTPConnection, req: Request, app: str) -> None:
        self.conn = conn
        self.req = req
        self.app = app
        self.head_sent = False
        self.chunked = False
        self.declared: int | None = None  # body bytes to send; None: until the end
        self.with_body = True
        self.sent = 0
        self.overrun = False

    def head(
        self, status: bytes, headers: list[tuple[bytes, bytes]], length: int | None, clock: Clock
    ) -> bytes:
        """The encoded head (see :func:`response_head`); ``length``: the whole body's size."""
        head, self.chunked, self.declared, self.with_body = response_head(
            self.conn, self.req, status, headers, length, clock
        )
        self.head_sent = True
        return head

    def piece(self, data: bytes) -> bytes:
        """``data`` framed for the wire; what is past the declared length is dropped."""
        if not self.with_body:
            return b""  # the body of a HEAD, 204 or 304 answer: applications may give one
        declared = self.declared
        if declared is not None and self.sent + len(data) > declared:
            if not self.overrun:
                self.overrun = True
                self.req.keep_alive = False
                logger.error(
                    "application %s sent more than its Content-Length of %d bytes: "
                    "the rest is dropped and the connection closed",
                    self.app,
                    declared,
                )
            data = data[: declared - self.sent]
        if not data:
            return b""
        self.sent += len(data)
        self.conn.sent += len(data)
        return chunk(data) if self.chunked else data

    def end(self) -> bytes:
        """What ends the body on the wire; a body shorter than declared closes instead."""
        declared = self.declared
        if self.with_body and declared is not None and self.sent < declared:
            self.req.keep_alive = False
            logger.error(
                "application %s sent %d of the %d bytes its Content-Length declares: "
                "the connection is closed",
                self.app,
                self.sent,
                declared,
            )
        return LAST_CHUNK if self.chunked else b""
