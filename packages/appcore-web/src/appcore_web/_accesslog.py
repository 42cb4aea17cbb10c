"""The access log in the combined log format, written in whole lines, a batch at a time.

Lines collect in memory and go to the file once a second (and when the batch grows large),
in one ``write`` on an ``O_APPEND`` descriptor: several worker processes can share one file
without tearing each other's lines, and no request waits on the disk.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from appcore import CantCreateError, describe_os_error
from appcore_web._response import Clock

if TYPE_CHECKING:
    from appcore_web._http import HTTPConnection, Request

_FLUSH_AT = 64 * 1024
# Anything that could forge or break a log line: quotes, backslashes, controls, non-ASCII.
_UNSAFE = re.compile(rb'[\x00-\x1f"\\\x7f-\xff]')


def _escape_byte(match: re.Match[bytes]) -> bytes:
    return b"\\x%02x" % match.group()[0]


def _safe(value: bytes) -> bytes:
    if _UNSAFE.search(value) is None:
        return value
    return _UNSAFE.sub(_escape_byte, value)


class AccessLog:
    """An open access log. ``log`` is called once per answered request."""

    def __init__(self, path: str, clock: Clock) -> None:
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise CantCreateError(f"cannot open access log {describe_os_error(err)}") from err
        self.path = path
        self._lines: list[bytes] = []
        self._size = 0
        self._clock = clock

    def log(self, conn: HTTPConnection, req: Request) -> None:
        """Add the line for ``req`` answered on ``conn``."""
        referer = user_agent = b"-"
        for name, value in req.headers:
            if name == b"user-agent":
                user_agent = _safe(value)
            elif name == b"referer":
                referer = _safe(value)
        line = b'%s - - [%s] "%s %s HTTP/%s" %d %s "%s" "%s"\n' % (
            conn.peer,
            self._clock.log_stamp(),
            req.method,
            _safe(req.url),
            req.version.encode("ascii", "replace"),
            conn.status,
            b"%d" % conn.sent if conn.sent else b"-",
            referer,
            user_agent,
        )
        self._lines.append(line)
        self._size += len(line)
        if self._size >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        """Write the collected lines."""
        if not self._lines or self._fd < 0:
            return
        data = b"".join(self._lines)
        self._lines.clear()
        self._size = 0
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            # A full disk must not take the site down; the lines are lost, requests go on.
            import logging

            logging.getLogger("appcore.web").exception("cannot write access log %s", self.path)

    def close(self) -> None:
        """Flush and close the file."""
        self.flush()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
