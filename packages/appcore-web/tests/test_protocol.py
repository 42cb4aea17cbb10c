"""HTTP/1.1 on raw sockets: pipelining, malformed requests, limits, traversal, slow clients."""

from __future__ import annotations

import http.client
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from appcore_web import Site

pytestmark = pytest.mark.timeout(30)


def exchange(server: Any, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send ``raw`` and return everything until the server closes."""
    with server.connect(timeout) as sock:
        sock.sendall(raw)
        chunks = []
        sock.settimeout(timeout)
        while True:
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            chunks.append(piece)
    return b"".join(chunks)


def status_of(data: bytes) -> int:
    assert data.startswith(b"HTTP/1.1 "), data[:100]
    return int(data.split(b" ", 2)[1])


def test_pipelined_requests_answered_in_order(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www)))
    raw = (
        b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /data.json HTTP/1.1\r\nHost: x\r\n\r\n"
        b"HEAD /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data = exchange(server, raw)
    # The HEAD response (last) announces a length but has no body: cut it off first.
    before, sep, head_block = data.rpartition(b"HTTP/1.1 200 OK\r\n")
    assert sep
    assert head_block.endswith(b"\r\n\r\n")
    responses = tools.split_responses(before)
    assert [r[0] for r in responses] == [200, 200, 404, 200, 200]
    assert responses[0][2] == tools.SMALL
    assert responses[1][2] == b"<p>page</p>\n"
    assert responses[3][2] == (www / "big.bin").read_bytes()
    assert responses[4][2] == b'{"a": 1}\n'
    assert b"Content-Length: %d\r\n" % len(tools.SMALL) in head_block
    assert b"Connection: close\r\n" in head_block


def test_keep_alive_with_http_client(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www)))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for _ in range(20):
        conn.request("GET", "/small.txt")
        response = conn.getresponse()
        assert response.read() == tools.SMALL
        assert not response.will_close
    conn.close()


def test_http10_closes_unless_keep_alive(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www)))
    data = exchange(server, b"GET /small.txt HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert data.endswith(tools.SMALL)
    with server.connect() as sock:
        sock.sendall(b"GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, body = tools.read_response(sock)
        assert (status, headers["connection"], body) == (200, "keep-alive", tools.SMALL)
        sock.sendall(b"GET /page.html HTTP/1.0\r\n\r\n")
        assert tools.read_response(sock)[2] == b"<p>page</p>\n"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 70000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 120 + b"\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    ],
)
def test_malformed_requests(serve: Any, www: Path, raw: bytes, expected: int) -> None:
    server = serve(Site(str(www)))
    data = exchange(server, raw)
    assert status_of(data) == expected
    assert b"Connection: close" in data


def test_chunked_body_too_large(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www), limits=tools.fast_limits(max_body=1000)))
    chunk = b"%x\r\n%s\r\n" % (600, b"x" * 600)
    raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2
    assert status_of(exchange(server, raw + b"0\r\n\r\n")) == 413


@pytest.mark.parametrize(
    "path",
    [
        b"/../secret.txt",
        b"/docs/../../secret.txt",
        b"/%2e%2e/secret.txt",
        b"/%2E%2E%2fsecret.txt",
        b"/..%2fsecret.txt",
        b"/docs/%2e%2e/%2e%2e/secret.txt",
        b"/..\\secret.txt",
        b"/%5c..%5csecret.txt",
        b"/small.txt%00.html",
        b"//../secret.txt",
        b"/%252e%252e/secret.txt",
    ],
)
def test_traversal_is_refused(serve: Any, www: Path, path: bytes) -> None:
    server = serve(Site(str(www)))
    data = exchange(server, b"GET " + path + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert b"TOP SECRET" not in data
    assert status_of(data) in (400, 404)


def test_symlink_escape(serve: Any, www: Path) -> None:
    (www / "link.txt").symlink_to(www.parent / "secret.txt")
    (www / "linkdir").symlink_to(www.parent)
    (www / "inside.txt").symlink_to(www / "small.txt")
    server = serve(Site(str(www)))
    for path in (b"/link.txt", b"/linkdir/secret.txt"):
        data = exchange(
            server, b"GET " + path + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        assert status_of(data) == 404
        assert b"TOP SECRET" not in data
    data = exchange(server, b"GET /inside.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert status_of(data) == 200
    allowed = serve(Site(str(www), follow_symlinks=True))
    data = exchange(allowed, b"GET /link.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert status_of(data) == 200
    assert data.endswith(b"TOP SECRET\n")


def test_slow_client_gets_408(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www), limits=tools.fast_limits()))
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(b"GET /small.txt HTTP/1.1\r\nHost: a\r\n")  # never finishes the head
        for _ in range(3):
            time.sleep(0.1)
            sock.sendall(b"X-Drip: 1\r\n")
        data = tools.read_until_closed(sock, timeout=5)
        elapsed = time.monotonic() - started
    assert status_of(data) == 408
    assert elapsed < 3.0


def test_idle_connection_is_closed(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www), limits=tools.fast_limits()))
    with server.connect() as sock:
        sock.sendall(b"GET /small.txt HTTP/1.1\r\nHost: a\r\n\r\n")
        assert tools.read_response(sock)[0] == 200
        started = time.monotonic()
        assert tools.read_until_closed(sock, timeout=5) == b""
        assert time.monotonic() - started < 3.0


def test_connection_limit(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www), limits=tools.fast_limits(max_connections=2, idle_timeout=5)))
    first, second = server.connect(), server.connect()
    try:
        for sock in (first, second):
            sock.sendall(b"GET /small.txt HTTP/1.1\r\nHost: a\r\n\r\n")
            assert tools.read_response(sock)[0] == 200
        third = exchange(server, b"GET /small.txt HTTP/1.1\r\nHost: a\r\n\r\n")
        assert status_of(third) == 503
    finally:
        first.close()
        second.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_disconnect_mid_transfer_leaks_nothing(
    serve: Any, www: Path, tools: Any, loop_name: str
) -> None:
    server = serve(Site(str(www)), loop=loop_name)
    with server.connect() as sock:  # warm up: caches, lazily opened things
        sock.sendall(b"GET /small.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        tools.read_until_closed(sock)
    before = _open_fds()
    for _ in range(20):
        sock = server.connect()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
        assert sock.recv(1000)
        sock.close()  # RST: the server is mid-sendfile
    runtime = server.service.site._runtime
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (runtime.connections or _open_fds() > before):
        time.sleep(0.05)
    assert runtime.connections == set()
    assert _open_fds() <= before

    async def tasks() -> int:
        import asyncio

        return len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])

    assert server.call(tasks()) == 0


def test_client_that_stops_reading_is_dropped(serve: Any, www: Path, tools: Any) -> None:
    server = serve(Site(str(www), limits=tools.fast_limits(send_timeout=0.5)))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    with sock:
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(2.0)  # read nothing while the server's deadline passes
        runtime = server.service.site._runtime
        assert runtime.connections == set()
