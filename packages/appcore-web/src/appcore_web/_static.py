"""Static files: safe path resolution, a validated cache, conditional and range responses.

A request path is resolved once to a real file under the root (``..``, NUL and backslashes
refused; symlinks leading out of the root refused unless allowed) and the result is cached
under the raw path. Each hit re-validates the entry with one ``stat``: size, mtime and inode
must be unchanged, and every few seconds the whole resolution is redone. Small files keep
their bytes and their pre-encoded headers, so answering is one ``write`` of joined bytes; big
files go out with ``sendfile``.
"""

from __future__ import annotations

import mimetypes
import os
import stat
import time
from collections.abc import Awaitable
from email.utils import formatdate
from typing import TYPE_CHECKING
from urllib.parse import quote_from_bytes, unquote_to_bytes

from appcore_web._conditional import (
    if_range_holds,
    not_modified,
    parse_ranges,
    precondition_failed,
)
from appcore_web._listing import render_listing
from appcore_web._response import STATUS_LINES, connection_header

if TYPE_CHECKING:
    from appcore_web._http import HTTPConnection, Request
    from appcore_web._response import Clock
    from appcore_web._sendfile import Pieces

_OK = STATUS_LINES[200]
_PARTIAL = STATUS_LINES[206]
_NOT_MODIFIED = STATUS_LINES[304]
_ALLOW = b"Allow: GET, HEAD, OPTIONS\r\n"
# The methods of RFC 9110 and 5789 that a folder of files does not allow (405); any other
# method is one this server does not implement at all (501).
_OTHER_STANDARD_METHODS = frozenset((b"POST", b"PUT", b"DELETE", b"PATCH", b"TRACE", b"CONNECT"))
_RECHECK_SECONDS = 2.0
_BOUNDARY = os.urandom(12).hex().encode("ascii")


class FileEntry:
    """What is known about one resolved file."""

    __slots__ = (
        "body",
        "content_type",
        "etag",
        "expires",
        "head",
        "ino",
        "last_modified",
        "mtime",
        "mtime_ns",
        "path",
        "size",
        "validators",
    )

    def __init__(self, path: bytes, st: os.stat_result, body: bytes | None, now: float) -> None:
        self.path = path
        self.size = st.st_size
        self.mtime_ns = st.st_mtime_ns
        self.mtime = int(st.st_mtime)
        self.ino = st.st_ino
        self.body = body
        self.expires = now + _RECHECK_SECONDS
        self.etag = b'"%x-%x-%x"' % (self.mtime_ns, self.size, self.ino)
        self.last_modified = formatdate(self.mtime, usegmt=True).encode("ascii")
        guessed, encoding = mimetypes.guess_type(os.fsdecode(path), strict=False)
        if encoding is not None:  # a .gz file is sent as what it is, not what it unpacks to
            guessed = "application/octet-stream"
        ctype = guessed or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
            ctype += "; charset=utf-8"
        self.content_type = ctype.encode("ascii")
        self.validators = b"ETag: %s\r\nLast-Modified: %s\r\n" % (self.etag, self.last_modified)
        self.head = b"Content-Type: %s\r\nContent-Length: %d\r\nAccept-Ranges: bytes\r\n%s" % (
            self.content_type,
            self.size,
            self.validators,
        )


class StaticFiles:
    """Answers GET and HEAD from the files under ``root``."""

    def __init__(
        self,
        root: str,
        *,
        index_names: tuple[str, ...],
        listing: bool,
        follow_symlinks: bool,
        clock: Clock,
        cache_file_bytes: int = 256 * 1024,
        cache_total_bytes: int = 64 * 1024 * 1024,
        cache_entries: int = 4096,
    ) -> None:
        self.root = os.fsencode(os.path.realpath(root))
        self._root_slash = self.root.rstrip(b"/") + b"/"
        self.index_names = tuple(os.fsencode(n) for n in index_names)
        self.listing = listing
        self.follow_symlinks = follow_symlinks
        self._clock = clock
        self._cache: dict[bytes, FileEntry] = {}
        self._cached_bytes = 0
        self._file_limit = cache_file_bytes
        self._total_limit = cache_total_bytes
        self._entry_limit = cache_entries

    async def start(self) -> None:
        """Nothing to start: files are looked up on demand."""

    async def stop(self) -> None:
        """Drop the cache."""
        self._cache.clear()
        self._cached_bytes = 0

    # -- answering

    def respond(self, conn: HTTPConnection, req: Request) -> Awaitable[None] | None:
        """Answer ``req``; returns an awaitable when the answer needs the socket's pace."""
        method = req.method
        if method != b"GET" and method != b"HEAD":
            if method == b"OPTIONS":
                conn.status = 204
                conn.write(
                    STATUS_LINES[204]
                    + self._clock.server_date()
                    + _ALLOW
                    + connection_header(req.keep_alive, req.http10)
                    + b"\r\n"
                )
            elif method in _OTHER_STANDARD_METHODS:
                conn.write_error(405, keep_alive=req.keep_alive, http10=req.http10, extra=_ALLOW)
            else:  # a method the parser knows (WebDAV's, say) and files have no use for
                conn.write_error(501, keep_alive=req.keep_alive, http10=req.http10)
            return None
        url = req.url
        query_at = url.find(b"?")
        raw_path = url if query_at < 0 else url[:query_at]
        entry = self._cache.get(raw_path)
        if entry is not None:
            entry = self._still_valid(raw_path, entry)
        if entry is None:
            found = self._resolve(raw_path)
            if isinstance(found, int):
                conn.write_error(found, keep_alive=req.keep_alive, http10=req.http10)
                return None
            if isinstance(found, tuple):
                self._redirect_or_list(conn, req, found)
                return None
            entry = found
        if req.conditional:
            return self._conditional(conn, req, entry)
        conn.status = 200
        head = b"".join(
            (
                _OK,
                self._clock.server_date(),
                entry.head,
                connection_header(req.keep_alive, req.http10),
                b"\r\n",
            )
        )
        if method == b"HEAD":
            conn.write(head)
            return None
        body = entry.body
        if body is not None:
            conn.sent = entry.size
            conn.write(head + body)
            return None
        return _send_ranges(conn, entry, head, [(0, entry.size - 1)], None)

    def _conditional(
        self, conn: HTTPConnection, req: Request, entry: FileEntry
    ) -> Awaitable[None] | None:
        inm = ims = if_match = ius = if_range = range_header = None
        for name, value in req.headers:
            if name == b"if-none-match":
                inm = value if inm is None else inm + b", " + value
            elif name == b"if-modified-since":
                ims = value
            elif name == b"if-match":
                if_match = value if if_match is None else if_match + b", " + value
            elif name == b"if-unmodified-since":
                ius = value
            elif name == b"if-range":
                if_range = value
            elif name == b"range":
                range_header = value
        head_only = req.method == b"HEAD"
        if precondition_failed(if_match, ius, entry.etag, entry.mtime):
            conn.write_error(412, keep_alive=req.keep_alive, http10=req.http10, head_only=head_only)
            return None
        tail = connection_header(req.keep_alive, req.http10) + b"\r\n"
        date = self._clock.server_date()
        if not_modified(inm, ims, entry.etag, entry.mtime):
            conn.status = 304
            conn.write(_NOT_MODIFIED + date + entry.validators + tail)
            return None
        ranges = None
        if range_header is not None and if_range_holds(if_range, entry.etag, entry.last_modified):
            ranges = parse_ranges(range_header, entry.size)
        if ranges is None:
            ranges = [(0, entry.size - 1)] if entry.size else []
            status, extra, boundary = _OK, entry.head, None
            conn.status = 200
        elif not ranges:
            conn.write_error(
                416,
                keep_alive=req.keep_alive,
                http10=req.http10,
                extra=b"Content-Range: bytes */%d\r\n" % entry.size,
                head_only=head_only,
            )
            return None
        elif len(ranges) == 1:
            first, last = ranges[0]
            status, boundary = _PARTIAL, None
            extra = (
                b"Content-Type: %s\r\nContent-Length: %d\r\nContent-Range: bytes %d-%d/%d\r\n%s"
                % (
                    entry.content_type,
                    last - first + 1,
                    first,
                    last,
                    entry.size,
                    entry.validators,
                )
            )
            conn.status = 206
        else:
            status, boundary = _PARTIAL, _BOUNDARY
            length = sum(len(_part_head(entry, r)) + r[1] - r[0] + 3 for r in ranges)
            length += len(boundary) + 6
            extra = (
                b"Content-Type: multipart/byteranges; boundary=%s\r\nContent-Length: %d\r\n%s"
                % (
                    boundary,
                    length,
                    entry.validators,
                )
            )
            conn.status = 206
        head = status + date + extra + tail
        if head_only:
            conn.write(head)
            return None
        if entry.body is not None:
            conn.write(head + _join_ranges(entry, entry.body, ranges, boundary))
            conn.sent = sum(last - first + 1 for first, last in ranges)
            return None
        return _send_ranges(conn, entry, head, ranges, boundary)

    def _redirect_or_list(
        self, conn: HTTPConnection, req: Request, found: tuple[str, bytes]
    ) -> None:
        kind, value = found
        if kind == "redirect":
            query_at = req.url.find(b"?")
            location = value + (req.url[query_at:] if query_at >= 0 else b"")
            conn.write_error(
                301,
                keep_alive=req.keep_alive,
                http10=req.http10,
                extra=b"Location: " + location + b"\r\n",
                head_only=req.method == b"HEAD",
            )
            return
        url_path = os.fsdecode(unquote_to_bytes(req.url.partition(b"?")[0]))
        try:
            body = render_listing(value, url_path)
        except OSError:
            conn.write_error(404, keep_alive=req.keep_alive, http10=req.http10)
            return
        conn.status = 200
        head = b"".join(
            (
                _OK,
                self._clock.server_date(),
                b"Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n" % len(body),
                b"Cache-Control: no-cache\r\n",
                connection_header(req.keep_alive, req.http10),
                b"\r\n",
            )
        )
        if req.method == b"HEAD":
            conn.write(head)
        else:
            conn.sent = len(body)
            conn.write(head + body)

    # -- resolution and the cache

    def _still_valid(self, raw_path: bytes, entry: FileEntry) -> FileEntry | None:
        try:
            st = os.stat(entry.path)
        except OSError:
            st = None
        if (
            st is None
            or st.st_mtime_ns != entry.mtime_ns
            or st.st_size != entry.size
            or st.st_ino != entry.ino
            or time.monotonic() > entry.expires
        ):
            self._forget(raw_path)
            return None
        return entry

    def _forget(self, raw_path: bytes) -> None:
        entry = self._cache.pop(raw_path, None)
        if entry is not None and entry.body is not None:
            self._cached_bytes -= entry.size

    def _resolve(self, raw_path: bytes) -> FileEntry | tuple[str, bytes] | int:
        """A file entry, ``("redirect", location)``, ``("list", folder)`` or an error status."""
        if not raw_path.startswith(b"/") and b"://" in raw_path:
            # absolute-form target (RFC 9112 3.2.2): only its path names a file
            after_scheme = raw_path.partition(b"://")[2]
            slash = after_scheme.find(b"/")
            raw_path = after_scheme[slash:] if slash >= 0 else b"/"
        decoded = unquote_to_bytes(raw_path)
        if not decoded.startswith(b"/") or b"\x00" in decoded or b"\\" in decoded:
            return 400
        parts: list[bytes] = []
        for segment in decoded.split(b"/"):
            if segment == b"" or segment == b".":
                continue
            if segment == b"..":
                return 400
            parts.append(segment)
        target = self._inside(os.path.join(self.root, *parts))
        if target is None:
            return 404
        try:
            st = os.stat(target)
        except (OSError, ValueError):
            return 404
        if stat.S_ISDIR(st.st_mode):
            if not decoded.endswith(b"/"):
                quoted = b"/".join(quote_from_bytes(p).encode("ascii") for p in parts)
                return ("redirect", b"/" + quoted + b"/")
            for name in self.index_names:
                index = self._inside(os.path.join(target, name))
                if index is None:
                    continue
                try:
                    index_st = os.stat(index)
                except OSError:
                    continue
                if stat.S_ISREG(index_st.st_mode):
                    return self._remember(raw_path, index, index_st)
            return ("list", target) if self.listing else 404
        if not stat.S_ISREG(st.st_mode) or decoded.endswith(b"/"):
            return 404
        return self._remember(raw_path, target, st)

    def _inside(self, candidate: bytes) -> bytes | None:
        """The real path of ``candidate`` if serving it is allowed, else None."""
        real = os.path.realpath(candidate)
        if self.follow_symlinks or real == self.root or real.startswith(self._root_slash):
            return real
        return None

    def _remember(self, raw_path: bytes, path: bytes, st: os.stat_result) -> FileEntry | int:
        body = None
        if st.st_size <= self._file_limit:
            try:
                with open(path, "rb") as f:
                    body = f.read(st.st_size + 1)
            except OSError:
                return 404
            if len(body) != st.st_size:  # changing under us: serve it uncached, by sendfile
                body = None
        entry = FileEntry(path, st, body, time.monotonic())
        if body is not None:
            while self._cache and (
                self._cached_bytes + entry.size > self._total_limit
                or len(self._cache) >= self._entry_limit
            ):
                self._forget(next(iter(self._cache)))
            if self._cached_bytes + entry.size <= self._total_limit:
                self._cache[raw_path] = entry
                self._cached_bytes += entry.size
        elif len(self._cache) < self._entry_limit:
            self._cache[raw_path] = entry
        return entry


def _part_head(entry: FileEntry, rng: tuple[int, int]) -> bytes:
    return b"--%s\r\nContent-Type: %s\r\nContent-Range: bytes %d-%d/%d\r\n\r\n" % (
        _BOUNDARY,
        entry.content_type,
        rng[0],
        rng[1],
        entry.size,
    )


def _join_ranges(
    entry: FileEntry, body: bytes, ranges: list[tuple[int, int]], boundary: bytes | None
) -> bytes:
    if boundary is None:
        first, last = ranges[0]
        return body[first : last + 1]
    pieces: list[bytes] = []
    for first, last in ranges:
        pieces += (_part_head(entry, (first, last)), body[first : last + 1], b"\r\n")
    pieces.append(b"--%s--\r\n" % boundary)
    return b"".join(pieces)


def _send_ranges(
    conn: HTTPConnection,
    entry: FileEntry,
    head: bytes,
    ranges: list[tuple[int, int]],
    boundary: bytes | None,
) -> Awaitable[None] | None:
    if boundary is None:
        first, last = ranges[0]
        return conn.send_file(entry.path, [(head, first, last - first + 1)])
    pieces: Pieces = []
    before = head
    for first, last in ranges:
        pieces.append((before + _part_head(entry, (first, last)), first, last - first + 1))
        before = b"\r\n"
    pieces.append((b"\r\n--%s--\r\n" % boundary, 0, 0))
    return conn.send_file(entry.path, pieces)
