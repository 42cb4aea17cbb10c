"""Directory listings: a plain HTML page whose every name is escaped, with validators.

A listing changes only when the folder's entries do, so it carries an ``ETag`` (a hash of
the page) and a ``Last-Modified`` (the folder's mtime) and answers conditional requests
like a file; ``Cache-Control: no-cache`` makes caches check before reusing it.
"""

from __future__ import annotations

import hashlib
import html
import os
from collections.abc import Callable
from email.utils import formatdate
from typing import TYPE_CHECKING
from urllib.parse import quote

from appcore_web._conditional import not_modified, precondition_failed
from appcore_web._response import STATUS_LINES, connection_header

if TYPE_CHECKING:
    from appcore_web._http import HTTPConnection, Request
    from appcore_web._response import Clock

Visible = Callable[["os.DirEntry[bytes]"], bool]


def _everything(item: os.DirEntry[bytes]) -> bool:
    return True


def render_listing(folder: str | bytes, url_path: str, visible: Visible = _everything) -> bytes:
    """The HTML page listing ``folder``; ``url_path`` is the decoded path it was asked by.

    Only entries ``visible`` accepts are shown. Names are escaped for HTML and
    percent-encoded in links, so a file called ``<script>`` or ``a"b`` is shown as text
    and still linked correctly.
    """
    rows: list[tuple[bool, bytes]] = []
    with os.scandir(os.fsencode(folder)) as entries:
        for entry in entries:
            if not visible(entry):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            rows.append((not is_dir, entry.name))
    rows.sort()
    title = html.escape(url_path)
    lines = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>Index of {title}</title></head>",
        f"<body><h1>Index of {title}</h1><ul>",
    ]
    if url_path != "/":
        lines.append('<li><a href="../">../</a></li>')
    for is_file, raw in rows:
        slash = "" if is_file else "/"
        href = quote(raw) + slash
        text = html.escape(os.fsdecode(raw).encode("utf-8", "replace").decode("utf-8")) + slash
        lines.append(f'<li><a href="{href}">{text}</a></li>')
    lines.append("</ul></body></html>\n")
    return "\n".join(lines).encode("utf-8", "replace")


def answer_listing(
    conn: HTTPConnection,
    req: Request,
    folder: bytes,
    url_path: str,
    visible: Visible,
    clock: Clock,
) -> None:
    """Answer a GET or HEAD for ``folder`` with its listing (200, 304 or 412)."""
    try:
        mtime = int(os.stat(folder).st_mtime)
        body = render_listing(folder, url_path, visible)
    except OSError:
        conn.write_error(404, keep_alive=req.keep_alive, http10=req.http10)
        return
    etag = b'"%s"' % hashlib.blake2b(body, digest_size=12).hexdigest().encode("ascii")
    validators = b"ETag: %s\r\nLast-Modified: %s\r\nCache-Control: no-cache\r\n" % (
        etag,
        formatdate(mtime, usegmt=True).encode("ascii"),
    )
    head_only = req.method == b"HEAD"
    if req.conditional:
        if precondition_failed(
            req.header(b"if-match"), req.header(b"if-unmodified-since"), etag, mtime
        ):
            conn.write_error(412, keep_alive=req.keep_alive, http10=req.http10, head_only=head_only)
            return
        if not_modified(
            req.header(b"if-none-match"), req.header(b"if-modified-since"), etag, mtime
        ):
            conn.status = 304
            conn.write(
                STATUS_LINES[304]
                + clock.server_date()
                + validators
                + connection_header(req.keep_alive, req.http10)
                + b"\r\n"
            )
            return
    conn.status = 200
    head = b"".join(
        (
            STATUS_LINES[200],
            clock.server_date(),
            b"Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n" % len(body),
            validators,
            connection_header(req.keep_alive, req.http10),
            b"\r\n",
        )
    )
    if head_only:
        conn.write(head)
    else:
        conn.sent = len(body)
        conn.write(head + body)
