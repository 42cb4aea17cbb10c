"""Reading an application file's bytes, never more than a documented limit.

Every loader takes the whole file as bytes, so the size of what is read is the first bound
on what loading may cost: a file past :func:`input_limit` (1 GiB unless the environment
variable ``APPCORE_MAX_INPUT`` says otherwise) is refused as bad data before any of it is
decoded. A regular file is refused from its size alone, without reading it; a pipe, a
terminal or a device such as ``/dev/zero`` is read in chunks and refused as soon as it
passes the limit, so reading never holds more than the limit plus one chunk.

Why 1 GiB: the largest files the toolchain is built for (100,000 services) are 3.5 MB as
TAP and 21 MB as TAX; loading costs about 15 times a TAP's size in memory, so a 1 GiB TAP
already asks for more memory than most servers have. The limit sits well above any
application a person builds, and far below what a hostile stream could make a tool hold.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

from appcore._errors import DataError, NoInputError, UsageError, describe_os_error

MAX_INPUT_ENV = "APPCORE_MAX_INPUT"
DEFAULT_MAX_INPUT = 1 << 30
_CHUNK = 16 << 20  # what one read of a stream asks for
_SIZE = re.compile(r"\s*([0-9]+)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def input_limit() -> int:
    """The most bytes an application file may hold: ``$APPCORE_MAX_INPUT`` or 1 GiB.

    The variable takes a byte count with an optional binary unit: ``2G``, ``512M``, ``4096``.
    """
    raw = os.environ.get(MAX_INPUT_ENV, "")
    if not raw.strip():
        return DEFAULT_MAX_INPUT
    found = _SIZE.fullmatch(raw)
    if found is None or int(found[1]) == 0:
        raise UsageError(f"${MAX_INPUT_ENV} must be a size such as 2G or 512M, not {raw!r}")
    return int(found[1]) * _UNITS[found[2].upper()]


def _too_large(name: str, limit: int) -> DataError:
    return DataError(
        f"{name} is larger than the {_shown(limit)} input limit "
        f"(set ${MAX_INPUT_ENV} to read larger files)"
    )


def _shown(size: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if size >= _UNITS[unit] and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]} {unit}iB"
    return f"{size} byte"


def read_stream(stream: BinaryIO, name: str, *, limit: int | None = None) -> bytes:
    """All of ``stream`` (a file, a pipe, stdin) as bytes; :class:`DataError` past the limit.

    ``name`` names the input in the error message; ``limit`` defaults to :func:`input_limit`.
    """
    if limit is None:
        limit = input_limit()
    want = _CHUNK
    try:
        info = os.fstat(stream.fileno())
    except (OSError, AttributeError, ValueError):  # not a real file (BytesIO): read in chunks
        info = None
    if info is not None and stat.S_ISREG(info.st_mode):
        if info.st_size > limit:
            raise _too_large(name, limit)
        want = info.st_size + 1  # one read takes a regular file whole (and sees its end)
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(want, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise _too_large(name, limit)
        want = _CHUNK
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_input(path: str | os.PathLike[str], *, limit: int | None = None) -> bytes:
    """A file's bytes; :class:`NoInputError` when it is missing or unreadable, and
    :class:`DataError` when it holds more than :func:`input_limit` bytes."""
    try:
        with Path(path).open("rb") as stream:
            return read_stream(stream, str(path), limit=limit)
    except OSError as err:
        raise NoInputError(f"cannot read {describe_os_error(err)}") from None
