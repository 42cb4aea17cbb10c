"""The body of a partial (206) answer: one range, or several as multipart/byteranges."""

from __future__ import annotations

import os
from collections.abc import Awaitable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appcore_web._entries import FileEntry
    from appcore_web._http import HTTPConnection
    from appcore_web._sendfile import Pieces

#: The multipart boundary, random per process so that no file can contain it by design.
BOUNDARY = os.urandom(12).hex().encode("ascii")


def part_head(entry: FileEntry, rng: tuple[int, int]) -> bytes:
    """The head of one part of a multipart/byteranges body."""
    return b"--%s\r\nContent-Type: %s\r\nContent-Range: bytes %d-%d/%d\r\n\r\n" % (
        BOUNDARY,
        entry.content_type,
        rng[0],
        rng[1],
        entry.size,
    )


def join_ranges(
    entry: FileEntry, body: bytes, ranges: list[tuple[int, int]], boundary: bytes | None
) -> bytes:
    """The partial body of a file held in memory."""
    if boundary is None:
        first, last = ranges[0]
        return body[first : last + 1]
    pieces: list[bytes] = []
    for first, last in ranges:
        pieces += (part_head(entry, (first, last)), body[first : last + 1], b"\r\n")
    pieces.append(b"--%s--\r\n" % boundary)
    return b"".join(pieces)


def send_ranges(
    conn: HTTPConnection,
    entry: FileEntry,
    head: bytes,
    ranges: list[tuple[int, int]],
    boundary: bytes | None,
) -> Awaitable[None] | None:
    """Send the partial body of a file from disk (see ``HTTPConnection.send_file``)."""
    if boundary is None:
        first, last = ranges[0]
        return conn.send_file(entry.path, [(head, first, last - first + 1)])
    pieces: Pieces = []
    before = head
    for first, last in ranges:
        pieces.append((before + part_head(entry, (first, last)), first, last - first + 1))
        before = b"\r\n"
    pieces.append((b"\r\n--%s--\r\n" % boundary, 0, 0))
    return conn.send_file(entry.path, pieces)
