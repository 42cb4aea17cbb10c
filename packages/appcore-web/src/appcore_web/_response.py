"""Pre-encoded pieces of HTTP responses: status lines, the Date header, error pages.

Everything here is computed once (or once per second for the date) so the hot path only
joins bytes objects.
"""

from __future__ import annotations

import http
import time
from email.utils import formatdate

SERVER_NAME = b"appcore"

_PHRASES: dict[int, bytes] = {s.value: s.phrase.encode("ascii") for s in http.HTTPStatus}
# A few codes servers send that the stdlib table may spell differently or lack.
_PHRASES.setdefault(431, b"Request Header Fields Too Large")

STATUS_LINES: dict[int, bytes] = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, phrase) for code, phrase in _PHRASES.items()
}


def status_line(code: int) -> bytes:
    """The status line for ``code``, including codes outside the standard table."""
    line = STATUS_LINES.get(code)
    if line is None:
        line = b"HTTP/1.1 %d Unknown\r\n" % code
    return line


def reason_phrase(code: int) -> bytes:
    """The reason phrase for ``code`` (``b"Unknown"`` when not a standard code)."""
    return _PHRASES.get(code, b"Unknown")


class Clock:
    """The ``Server`` and ``Date`` header block and the access-log timestamp, rebuilt once a second.

    Formatting an HTTP date costs microseconds; at tens of thousands of responses a second the
    same string would be built thousands of times, so it is cached per wall-clock second.
    """

    __slots__ = ("_log_stamp", "_second", "_server_date")

    def __init__(self) -> None:
        self._second = -1
        self._server_date = b""
        self._log_stamp = b""

    def _refresh(self, second: int) -> None:
        self._second = second
        date = formatdate(second, usegmt=True).encode("ascii")
        self._server_date = b"Server: " + SERVER_NAME + b"\r\nDate: " + date + b"\r\n"
        self._log_stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(second)).encode(
            "ascii"
        )

    def server_date(self) -> bytes:
        """``Server: ...\\r\\nDate: ...\\r\\n`` for the current second."""
        second = int(time.time())
        if second != self._second:
            self._refresh(second)
        return self._server_date

    def log_stamp(self) -> bytes:
        """The current time as the combined log format writes it: ``10/Oct/2000:13:55:36 -0700``."""
        second = int(time.time())
        if second != self._second:
            self._refresh(second)
        return self._log_stamp


_ERROR_BODIES: dict[int, bytes] = {}


def error_body(code: int) -> bytes:
    """A tiny HTML page naming the status."""
    body = _ERROR_BODIES.get(code)
    if body is None:
        phrase = reason_phrase(code)
        body = b"<!DOCTYPE html>\n<title>%d %s</title>\n<h1>%d %s</h1>\n" % (
            code,
            phrase,
            code,
            phrase,
        )
        _ERROR_BODIES[code] = body
    return body


def connection_header(keep_alive: bool, http10: bool) -> bytes:
    """The ``Connection`` header line needed to say what happens to the connection next."""
    if not keep_alive:
        return b"Connection: close\r\n"
    if http10:
        return b"Connection: keep-alive\r\n"
    return b""
