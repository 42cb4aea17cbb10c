"""RFC 9110 corners on raw sockets: preconditions (412), unsatisfiable ranges (416), unknown
methods (501).

Every request is written byte for byte and every answer read off the socket, so nothing
between the test and the server (a client library's own handling) hides what is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appcore_web import Site

pytestmark = pytest.mark.timeout(30)

OLD_DATE = b"Sat, 01 Jan 2000 00:00:00 GMT"
FUTURE_DATE = b"Fri, 01 Jan 2100 00:00:00 GMT"


def ask(server: Any, tools: Any, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection; the response as (status, headers, body)."""
    with server.connect() as sock:
        sock.sendall(request)
        status, headers, body = tools.read_response(sock)
        return int(status), headers, body


def get(path: bytes, *headers: bytes, method: bytes = b"GET") -> bytes:
    lines = b"".join(h + b"\r\n" for h in headers)
    return method + b" " + path + b" HTTP/1.1\r\nHost: a\r\n" + lines + b"\r\n"


def validators(server: Any, tools: Any, path: bytes) -> tuple[bytes, bytes]:
    _, headers, _ = ask(server, tools, get(path))
    return headers["etag"].encode(), headers["last-modified"].encode()


@pytest.mark.parametrize("path", [b"/small.txt", b"/big.bin"])
def test_false_if_match_is_412(serve: Any, www: Path, tools: Any, path: bytes) -> None:
    server = serve(Site(str(www)))
    etag, _ = validators(server, tools, path)
    for value in (b'"other"', b"W/" + etag, b'"x", "y"'):
        status, headers, body = ask(server, tools, get(path, b"If-Match: " + value))
        assert status == 412, value
        assert b"412" in body
    # True conditions go on to a normal answer (a weak tag never matches strongly).
    for value in (etag, b'"other", ' + etag, b"*"):
        status, _, body = ask(server, tools, get(path, b"If-Match: " + value))
        assert status == 200, value
        assert len(body) == (www / path.decode()[1:]).stat().st_size
    # HEAD gets the 412 head without a body; the connection stays usable.
    with server.connect() as sock:
        sock.sendall(get(path, b'If-Match: "nope"', method=b"HEAD") + get(b"/small.txt"))
        sock.settimeout(5)
        data = b""
        while data.count(b"\r\n\r\n") < 2 or not data.endswith(tools.SMALL):
            piece = sock.recv(65536)
            assert piece, data
            data += piece
    # The HEAD answer has its head only: the next bytes are the next response.
    first, _, second = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 412 ")
    assert b"Content-Length: " in first
    assert second.startswith(b"HTTP/1.1 200 OK\r\n")


def test_false_if_unmodified_since_is_412(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www)))
    _, modified = validators(server, tools, b"/small.txt")
    status, _, _ = ask(server, tools, get(b"/small.txt", b"If-Unmodified-Since: " + OLD_DATE))
    assert status == 412
    for value in (modified, FUTURE_DATE, b"not a date"):
        status, _, body = ask(server, tools, get(b"/small.txt", b"If-Unmodified-Since: " + value))
        assert (status, body) == (200, tools.SMALL), value
    # If-Match wins: a true If-Match makes a false If-Unmodified-Since irrelevant.
    status, _, _ = ask(
        server,
        tools,
        get(b"/small.txt", b"If-Match: *", b"If-Unmodified-Since: " + OLD_DATE),
    )
    assert status == 200


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        (b"bytes=5000000-", 416),  # open-ended, first byte past the end
        (b"bytes=5000000-6000000", 416),
        (b"bytes=3145745-", 416),  # exactly the size: one past the last byte
        (b"bytes=3145744-", 206),  # the last byte
        (b"bytes=-0", 416),
        (b"bytes=10-5", 200),  # invalid: the header is ignored
    ],
)
def test_unsatisfiable_range_is_416(
    serve: Any, www: Path, tools: Any, spec: bytes, status: int
) -> None:
    size = tools.BIG_SIZE
    assert size == 3145745
    server = serve(Site(str(www)))
    got, headers, body = ask(server, tools, get(b"/big.bin", b"Range: " + spec))
    assert got == status
    if status == 416:
        assert headers["content-range"] == f"bytes */{size}"
    elif status == 206:
        assert body == (www / "big.bin").read_bytes()[-1:]
    else:
        assert len(body) == size


@pytest.mark.parametrize("method", [b"FOO", b"BREW", b"get", b"X-CUSTOM"])
def test_unknown_method_is_501(serve: Any, www: Path, tools: Any, method: bytes) -> None:
    server = serve(Site(str(www)))
    status, headers, _ = ask(server, tools, get(b"/small.txt", method=method))
    assert status == 501
    assert headers["connection"] == "close"


def test_unknown_method_after_pipelined_requests(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www)))
    with server.connect() as sock:
        sock.sendall(get(b"/small.txt") + get(b"/page.html") + get(b"/x", method=b"FOO"))
        data = tools.read_until_closed(sock)
    assert [r[0] for r in tools.split_responses(data)] == [200, 200, 501]


def test_methods_files_do_not_allow(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www)))
    for method in (b"POST", b"PUT", b"DELETE", b"PATCH"):
        request = get(b"/small.txt", b"Content-Length: 0", method=method)
        status, headers, _ = ask(server, tools, request)
        assert (status, headers["allow"]) == (405, "GET, HEAD, OPTIONS"), method
    # A method the parser knows but no folder of files implements.
    status, _, _ = ask(server, tools, get(b"/small.txt", method=b"PROPFIND"))
    assert status == 501
    # A garbled request line is still 400, not 501.
    status, _, _ = ask(server, tools, b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert status == 400
