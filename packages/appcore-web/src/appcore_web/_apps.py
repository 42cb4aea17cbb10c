"""What the WSGI and ASGI adapters share: loading ``module:app`` and framing responses."""

from __future__ import annotations

import importlib
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
) -> tuple[bytes, bool, bool]:
    """The encoded head of an application's response.

    ``length`` is the body size when the whole body is already known. Returns the head,
    whether the body must be sent chunked, and whether a body is to be sent at all.
    Raises ``ValueError`` for a malformed status or a header that would split the response.
    """
    if len(status) < 3 or not status[:3].isdigit() or (len(status) > 3 and status[3:4] != b" "):
        raise ValueError(f"malformed status {status!r}")
    code = int(status[:3])
    if any(c in status for c in _FORBIDDEN):
        raise ValueError(f"malformed status {status!r}")
    parts = [b"HTTP/1.1 ", status, b"\r\n"]
    app_length = None
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
            app_length = value
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
    if app_length is None and (with_body or length is not None) and code not in _NO_BODY_STATUS:
        if length is not None:
            parts.append(b"Content-Length: %d\r\n" % length)
        elif not req.http10:
            parts.append(b"Transfer-Encoding: chunked\r\n")
            chunked = with_body
        else:
            req.keep_alive = False  # the end of the body is the end of the connection
    parts.append(connection_header(req.keep_alive, req.http10))
    parts.append(b"\r\n")
    conn.status = code
    return b"".join(parts), chunked, with_body


def chunk(data: bytes) -> bytes:
    """``data`` framed as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
