"""What the static file server knows about one file, and its precompressed siblings.

A :class:`FileEntry` holds a file's validators and pre-encoded header block (and, for a
small file, its bytes), so answering from the cache only joins bytes. A file may have
precompressed siblings (``name.br``, ``name.gz``) that are sent instead, with
``Content-Encoding``, to clients that accept the coding; every answer for such a file then
says ``Vary: Accept-Encoding`` so that caches keep the versions apart.
"""

from __future__ import annotations

import mimetypes
import os
from email.utils import formatdate

RECHECK_SECONDS = 2.0
#: Content codings served from siblings, in order of preference, with their file suffixes.
CODINGS: tuple[tuple[bytes, bytes], ...] = ((b"br", b".br"), (b"gzip", b".gz"))
_VARY = b"Vary: Accept-Encoding\r\n"


def content_type_of(path: bytes) -> bytes:
    """The ``Content-Type`` for a file name (UTF-8 for text)."""
    guessed, encoding = mimetypes.guess_type(os.fsdecode(path), strict=False)
    if encoding is not None:  # a .gz file is sent as what it is, not what it unpacks to
        guessed = "application/octet-stream"
    ctype = guessed or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
        ctype += "; charset=utf-8"
    return ctype.encode("ascii")


class FileEntry:
    """What is known about one resolved file (or one coding of it)."""

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
        "variants",
    )

    def __init__(
        self,
        path: bytes,
        st: os.stat_result,
        body: bytes | None,
        now: float,
        *,
        content_type: bytes | None = None,
        coding: bytes = b"",
        vary: bool = False,
    ) -> None:
        self.path = path
        self.size = st.st_size
        self.mtime_ns = st.st_mtime_ns
        self.mtime = int(st.st_mtime)
        self.ino = st.st_ino
        self.body = body
        self.expires = now + RECHECK_SECONDS
        self.etag = b'"%x-%x-%x"' % (self.mtime_ns, self.size, self.ino)
        self.last_modified = formatdate(self.mtime, usegmt=True).encode("ascii")
        self.content_type = content_type or content_type_of(path)
        # Validators go into 304 and 206 answers too; so must Vary (RFC 9110 15.4.5).
        self.validators = b"ETag: %s\r\nLast-Modified: %s\r\n%s" % (
            self.etag,
            self.last_modified,
            _VARY if vary else b"",
        )
        self.head = b"Content-Type: %s\r\n%sContent-Length: %d\r\nAccept-Ranges: bytes\r\n%s" % (
            self.content_type,
            b"Content-Encoding: %s\r\n" % coding if coding else b"",
            self.size,
            self.validators,
        )
        #: Precompressed siblings as (coding, entry), in order of preference.
        self.variants: tuple[tuple[bytes, FileEntry], ...] = ()

    def unchanged(self, st: os.stat_result | None) -> bool:
        """Whether ``st`` (a fresh ``stat`` of the path) still describes this entry."""
        return (
            st is not None
            and st.st_mtime_ns == self.mtime_ns
            and st.st_size == self.size
            and st.st_ino == self.ino
        )

    def cost(self) -> int:
        """Bytes of file contents this entry and its variants hold in memory."""
        own = self.size if self.body is not None else 0
        return own + sum(variant.cost() for _, variant in self.variants)


def accepted_codings(header: bytes) -> frozenset[bytes]:
    """The content codings an ``Accept-Encoding`` value accepts (``q=0`` refuses one)."""
    accepted: set[bytes] = set()
    refused: set[bytes] = set()
    wildcard = False
    for item in header.lower().split(b","):
        coding, _, params = item.partition(b";")
        coding = coding.strip()
        if not coding:
            continue
        quality = 1.0
        for param in params.split(b";"):
            name, _, value = param.partition(b"=")
            if name.strip() == b"q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if coding == b"*":
            wildcard = quality > 0
        elif quality > 0:
            accepted.add(coding)
        else:
            refused.add(coding)
    if wildcard:
        accepted.update(c for c, _ in CODINGS if c not in refused)
    return frozenset(accepted)


def choose(entry: FileEntry, accept_encoding: bytes | None) -> FileEntry:
    """The entry to send for a request with this ``Accept-Encoding``: the most preferred
    precompressed sibling the client accepts, else the file itself."""
    if accept_encoding is None:
        return entry
    accepted = accepted_codings(accept_encoding)
    for coding, variant in entry.variants:
        if coding in accepted:
            return variant
    return entry
