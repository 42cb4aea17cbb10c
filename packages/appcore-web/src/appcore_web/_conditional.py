"""Validators and ranges: ``If-Match``, ``If-Unmodified-Since``, ``If-None-Match``,
``If-Modified-Since``, ``If-Range`` and ``Range``."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

#: More ranges than this in one request are answered with the whole file (RFC 9110 14.2
#: lets a server ignore Range); it stops a client asking for one byte a thousand times.
MAX_RANGES = 32
_MAX_DIGITS = 19


def etag_matches(header: bytes, etag: bytes) -> bool:
    """Weak comparison of ``If-None-Match`` against our (strong) ETag."""
    if header.strip() == b"*":
        return True
    for candidate in header.split(b","):
        candidate = candidate.strip()
        if candidate.startswith(b"W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def http_date_seconds(header: bytes) -> int | None:
    """Seconds since the epoch of an HTTP date, or None when it is not one."""
    try:
        moment = parsedate_to_datetime(header.decode("latin-1"))
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # dates in HTTP are GMT even when they fail to say so
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def strong_match(header: bytes, etag: bytes) -> bool:
    """``If-Match``: the strong comparison (a weak tag never matches); ``*`` matches any."""
    if header.strip() == b"*":
        return True
    return any(candidate.strip() == etag for candidate in header.split(b","))


def precondition_failed(
    if_match: bytes | None, if_unmodified_since: bytes | None, etag: bytes, mtime: int
) -> bool:
    """Whether ``If-Match`` or ``If-Unmodified-Since`` is false (412; RFC 9110 13.2.2).

    ``If-Unmodified-Since`` counts only without ``If-Match``, and an unparsable date is
    ignored, as RFC 9110 13.1.4 says.
    """
    if if_match is not None:
        return not strong_match(if_match, etag)
    if if_unmodified_since is not None:
        since = http_date_seconds(if_unmodified_since)
        return since is not None and mtime > since
    return False


def not_modified(
    if_none_match: bytes | None, if_modified_since: bytes | None, etag: bytes, mtime: int
) -> bool:
    """Whether a GET/HEAD should be answered 304 (RFC 9110 13.2.2: ETags take precedence)."""
    if if_none_match is not None:
        return etag_matches(if_none_match, etag)
    if if_modified_since is not None:
        since = http_date_seconds(if_modified_since)
        return since is not None and mtime <= since
    return False


def if_range_holds(if_range: bytes | None, etag: bytes, last_modified: bytes) -> bool:
    """Whether a ``Range`` may be honoured: no ``If-Range``, or one naming this version."""
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith((b'"', b"W/")):
        return if_range == etag  # If-Range requires the strong comparison
    return if_range == last_modified


def parse_ranges(header: bytes, size: int) -> list[tuple[int, int]] | None:
    """The satisfiable ranges of a ``Range`` header as inclusive ``(first, last)`` pairs.

    None means "ignore the header" (not a byte range, malformed, too many or overlapping
    ranges); an empty list means nothing asked for exists (416).
    """
    unit, _, spec = header.partition(b"=")
    if unit.strip().lower() != b"bytes" or not spec:
        return None
    ranges: list[tuple[int, int]] = []
    parts = [p.strip() for p in spec.split(b",")]
    parts = [p for p in parts if p]
    if not parts or len(parts) > MAX_RANGES:
        return None
    for part in parts:
        first_text, dash, last_text = part.partition(b"-")
        first_text, last_text = first_text.strip(), last_text.strip()
        if not dash or len(first_text) > _MAX_DIGITS or len(last_text) > _MAX_DIGITS:
            return None
        if not first_text:
            if not last_text.isdigit():
                return None
            suffix = int(last_text)
            if suffix == 0 or size == 0:
                continue
            ranges.append((max(0, size - suffix), size - 1))
            continue
        if not first_text.isdigit() or (last_text and not last_text.isdigit()):
            return None
        first = int(first_text)
        if last_text and int(last_text) < first:
            return None  # not a valid range-spec: the whole header is ignored
        if first >= size:  # unsatisfiable, open-ended (bytes=5000000-) or not
            continue
        last = int(last_text) if last_text else size - 1
        ranges.append((first, min(last, size - 1)))
    if len(ranges) > 1:
        ordered = sorted(ranges)
        if any(b[0] <= a[1] for a, b in zip(ordered, ordered[1:], strict=False)):
            return None
    return ranges
