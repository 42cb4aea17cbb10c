"""Static files: safe path resolution, a validated cache, conditional and range responses.

A request path is resolved once to a real file under the root (``..``, NUL and backslashes
refused; symlinks leading out of the root, and names beginning with a dot, refused unless
allowed; precompressed siblings found, see ``_entries``) and the result is cached
under the raw path. Each hit re-validates the entry with one ``stat``: size, mtime and inode
must be unchanged, and every few seconds the whole resolution is redone. Small files keep
their bytes and their pre-encoded headers, so answering is one ``write`` of joined bytes; big
files go out with ``sendfile``.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING
from urllib.parse import quote_from_bytes, unquote_to_bytes

from appcore_web._conditional import (
    if_range_holds,
    not_modified,
    parse_ranges,
    precondition_failed,
)
from appcore_web._entries import CODINGS, FileEntry, choose
from appcore_web._listing import answer_listing
from appcore_web._ranges import BOUNDARY, join_ranges, part_head, send_ranges
from appcore_web._response import STATUS_LINES, connection_header

if TYPE_CHECKING:
    from appcore_web._http import HTTPConnection, Request
    from appcore_web._response import Clock

_OK = STATUS_LINES[200]
_PARTIAL = STATUS_LINES[206]
_NOT_MODIFIED = STATUS_LINES[304]
_ALLOW = b"Allow: GET, HEAD, OPTIONS\r\n"
# The methods of RFC 9110 and 5789 that a folder of files does not allow (405); any other
# method is one this server does not implement at all (501).
_OTHER_STANDARD_METHODS = frozenset((b"POST", b"PUT", b"DELETE", b"PATCH", b"TRACE", b"CONNECT"))


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
        allow_hidden: bool = False,
        precompressed: bool = True,
        cache_file_bytes: int = 256 * 1024,
        cache_total_bytes: int = 64 * 1024 * 1024,
        cache_entries: int = 4096,
    ) -> None:
        self.root = os.fsencode(os.path.realpath(root))
        self._root_slash = self.root.rstrip(b"/") + b"/"
        self.index_names = tuple(os.fsencode(n) for n in index_names)
        self.listing = listing
        self.follow_symlinks = follow_symlinks
        self.allow_hidden = allow_hidden
        self.precompressed = precompressed
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
        if entry.variants:
            entry = choose(entry, req.header(b"accept-encoding"))
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
        return send_ranges(conn, entry, head, [(0, entry.size - 1)], None)

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
            status, boundary = _PARTIAL, BOUNDARY
            length = sum(len(part_head(entry, r)) + r[1] - r[0] + 3 for r in ranges)
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
            conn.write(head + join_ranges(entry, entry.body, ranges, boundary))
            conn.sent = sum(last - first + 1 for first, last in ranges)
            return None
        return send_ranges(conn, entry, head, ranges, boundary)

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
        answer_listing(conn, req, value, url_path, self._listable, self._clock)

    def _listable(self, item: os.DirEntry[bytes]) -> bool:
        """Whether a listing shows ``item``: not hidden, and servable if it is a link."""
        if item.name.startswith(b".") and not self.allow_hidden:
            return False
        return not item.is_symlink() or self._inside(item.path) is not None

    # -- resolution and the cache

    def _still_valid(self, raw_path: bytes, entry: FileEntry) -> FileEntry | None:
        if (
            time.monotonic() > entry.expires
            or not entry.unchanged(_stat(entry.path))
            or any(not v.unchanged(_stat(v.path)) for _, v in entry.variants)
        ):
            self._forget(raw_path)
            return None
        return entry

    def _forget(self, raw_path: bytes) -> None:
        entry = self._cache.pop(raw_path, None)
        if entry is not None:
            self._cached_bytes -= entry.cost()

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
            if segment[:1] == b"." and not self.allow_hidden:
                return 404  # .git, .env, .htpasswd: hidden unless allowed
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
        if real.startswith(self._root_slash):
            # A link inside the root may still lead to a hidden name (docs -> .git).
            if not self.allow_hidden and b"/." in real[len(self._root_slash) - 1 :]:
                return None
            return real
        if self.follow_symlinks or real == self.root:
            return real
        return None

    def _remember(self, raw_path: bytes, path: bytes, st: os.stat_result) -> FileEntry | int:
        try:
            body = self._small_body(path, st)
        except OSError:
            return 404
        now = time.monotonic()
        siblings = self._siblings(path, st) if self.precompressed else []
        entry = FileEntry(path, st, body, now, vary=bool(siblings))
        variants: list[tuple[bytes, FileEntry]] = []
        for coding, sibling, sibling_st in siblings:
            try:
                sibling_body = self._small_body(sibling, sibling_st)
            except OSError:
                continue
            variant = FileEntry(
                sibling,
                sibling_st,
                sibling_body,
                now,
                content_type=entry.content_type,
                coding=coding,
                vary=True,
            )
            variants.append((coding, variant))
        entry.variants = tuple(variants)
        cost = entry.cost()
        if cost:
            while self._cache and (
                self._cached_bytes + cost > self._total_limit
                or len(self._cache) >= self._entry_limit
            ):
                self._forget(next(iter(self._cache)))
            if self._cached_bytes + cost <= self._total_limit:
                self._cache[raw_path] = entry
                self._cached_bytes += cost
        elif len(self._cache) < self._entry_limit:
            self._cache[raw_path] = entry
        return entry

    def _small_body(self, path: bytes, st: os.stat_result) -> bytes | None:
        """The bytes of a file small enough to keep in memory, else None."""
        if st.st_size > self._file_limit:
            return None
        with open(path, "rb") as f:
            body = f.read(st.st_size + 1)
        # Changing under us: serve it uncached, by sendfile.
        return body if len(body) == st.st_size else None

    def _siblings(
        self, path: bytes, st: os.stat_result
    ) -> list[tuple[bytes, bytes, os.stat_result]]:
        """Precompressed siblings of ``path`` as (coding, real path, stat), best first.

        A sibling older than the file is stale (the file was edited since it was
        compressed) and is not used.
        """
        found = []
        for coding, suffix in CODINGS:
            sibling = self._inside(path + suffix)
            sibling_st = _stat(sibling) if sibling is not None else None
            if (
                sibling is not None
                and sibling_st is not None
                and stat.S_ISREG(sibling_st.st_mode)
                and sibling_st.st_mtime_ns >= st.st_mtime_ns
            ):
                found.append((coding, sibling, sibling_st))
        return found


def _stat(path: bytes) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None
