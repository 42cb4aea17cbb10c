"""Big files on the zero-copy path (and TLS on the copy path) with awkward clients."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from appcore_web import Site

pytestmark = pytest.mark.timeout(30)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_slow_reader_gets_the_whole_file(serve: Any, www: Path, tools: Any, loop_name: str) -> None:
    # A small receive buffer makes the server wait for room many times; the client keeps
    # reading (slower than the server could send) so it must never be dropped.
    server = serve(Site(str(www), limits=tools.fast_limits(send_timeout=1.0)), loop=loop_name)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.connect(("127.0.0.1", server.port))
    with sock:
        sock.sendall(
            b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        sock.settimeout(5)
        data = bytearray()
        expected_total = tools.BIG_SIZE + len(tools.SMALL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
            if len(data) > expected_total and data.endswith(tools.SMALL):
                break
            time.sleep(0.0005)
    big, small = tools.split_responses(bytes(data))
    assert big[0] == 200
    assert _sha(big[2]) == _sha((www / "big.bin").read_bytes())
    assert small[0] == 200
    assert small[2] == tools.SMALL


def test_pipelined_small_big_small_in_order(
    serve: Any, www: Path, tools: Any, loop_name: str
) -> None:
    # The small answer is still in the transport's buffer when the big one starts: the
    # zero-copy path must let it out first.
    server = serve(Site(str(www)), loop=loop_name)
    request = b"GET /%s HTTP/1.1\r\nHost: a\r\n\r\n"
    with server.connect() as sock:
        sock.sendall(
            request % b"small.txt"
            + request % b"big.bin"
            + b"GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=5-9,-3\r\n\r\n"
            + b"GET /small.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        data = tools.read_until_closed(sock, timeout=10)
    responses = tools.split_responses(data)
    big = (www / "big.bin").read_bytes()
    assert [r[0] for r in responses] == [200, 200, 206, 200]
    assert responses[0][2] == tools.SMALL
    assert _sha(responses[1][2]) == _sha(big)
    assert big[5:10] in responses[2][2]
    assert big[-3:] in responses[2][2]
    assert responses[3][2] == tools.SMALL


def test_http10_big_file_then_close(serve: Any, www: Path, tools: Any, loop_name: str) -> None:
    server = serve(Site(str(www)), loop=loop_name)
    with server.connect() as sock:
        sock.sendall(b"GET /big.bin HTTP/1.0\r\n\r\n")
        data = tools.read_until_closed(sock, timeout=10)
    ((status, headers, body),) = tools.split_responses(data)
    assert status == 200
    assert headers["connection"] == "close"
    assert len(body) == tools.BIG_SIZE


def test_reader_that_stops_is_dropped_and_leaks_nothing(
    serve: Any, www: Path, tools: Any, loop_name: str
) -> None:
    server = serve(Site(str(www), limits=tools.fast_limits(send_timeout=0.5)), loop=loop_name)
    with server.connect() as sock:  # warm up
        sock.sendall(b"GET /small.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        tools.read_until_closed(sock)
    sock = socket.socket()
    before = _open_fds()  # counting the client's own socket
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    with sock:
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200 ")
        runtime = server.service.site._runtime
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and runtime.connections:
            time.sleep(0.05)
        assert runtime.connections == set()
        # Dropped means closed: the socket (and its duplicate) and the file are gone.
        while time.monotonic() < deadline and _open_fds() > before:
            time.sleep(0.05)
        assert _open_fds() <= before
        assert server.call(_no_tasks()) == 0


async def _no_tasks() -> int:
    import asyncio

    return len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])


def test_tls_big_file_by_copying(
    serve: Any, www: Path, tools: Any, loop_name: str, tls_files: tuple[str, str]
) -> None:
    cert, key = tls_files
    server = serve(
        Site(str(www)),
        loop=loop_name,
        endpoint=f"ssl:0:privateKey={key}:certKey={cert}:interface=127.0.0.1",
    )
    context = ssl.create_default_context(cafile=cert)
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=context)
    try:
        for headers in ({}, {"Range": "bytes=0-2,-2"}):
            conn.request("GET", "/big.bin", headers=headers)
            response = conn.getresponse()
            body = response.read()
            if not headers:
                assert response.status == 200
                assert _sha(body) == _sha((www / "big.bin").read_bytes())
            else:
                assert response.status == 206
                assert int(response.getheader("Content-Length") or -1) == len(body)
    finally:
        conn.close()
