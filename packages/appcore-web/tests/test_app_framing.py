"""How application output goes on the wire: streamed as produced, never past its length.

Plain WSGI and ASGI applications written here; the client is a raw socket that records when
each block arrives, so holding a block back or sending bytes past ``Content-Length`` shows.
"""

from __future__ import annotations

import logging
import socket
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from appcore_web import Site

pytestmark = pytest.mark.timeout(30)

APPS = """
import asyncio
import time

yielded = {}  # block name -> time.monotonic() when the application produced it

def wsgi_app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/generator":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def blocks():
            for n in range(4):
                if n:
                    time.sleep(0.25)
                yielded[f"gen{n}"] = time.monotonic()
                yield f"gen{n};".encode()
        return blocks()
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        for n in range(3):
            if n:
                time.sleep(0.25)
            yielded[f"write{n}"] = time.monotonic()
            write(f"write{n};".encode())
        return []
    if path == "/list":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"one;", b"two;"]
    if path == "/empty":
        start_response("204 No Content", [])
        return iter([])
    declared = environ.get("HTTP_X_DECLARE")
    body = environ.get("HTTP_X_BODY", "").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", declared)])
    if path == "/as-list":
        return [body]
    return iter([body[: len(body) // 2], body[len(body) // 2 :]])

async def asgi_app(scope, receive, send):
    if scope["type"] != "http":
        return
    headers = dict(scope["headers"])
    if scope["path"] == "/generator":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for n in range(4):
            if n:
                await asyncio.sleep(0.25)
            yielded[f"asgi{n}"] = time.monotonic()
            await send({"type": "http.response.body", "body": f"asgi{n};".encode(),
                        "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = headers.get(b"x-body", b"")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", headers[b"x-declare"])]})
    if scope["path"] == "/one-message":
        await send({"type": "http.response.body", "body": body})
        return
    half = len(body) // 2
    await send({"type": "http.response.body", "body": body[:half], "more_body": True})
    await send({"type": "http.response.body", "body": body[half:], "more_body": False})
"""


@pytest.fixture
def apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    """The applications above as a fresh module; returns the module."""
    import importlib

    name = "framing_" + "".join(c if c.isalnum() else "_" for c in request.node.name)
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(APPS))
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(name)


def arrivals(sock: socket.socket, names: list[str], timeout: float = 5.0) -> dict[str, float]:
    """When each ``name;`` marker first arrived on ``sock`` (time.monotonic())."""
    sock.settimeout(timeout)
    seen: dict[str, float] = {}
    data = b""
    while len(seen) < len(names):
        piece = sock.recv(65536)
        now = time.monotonic()
        assert piece, f"closed after {data!r}"
        data += piece
        for name in names:
            if name not in seen and f"{name};".encode() in data:
                seen[name] = now
    return seen


def ask(server: Any, path: str, headers: str = "", tail: bytes = b"") -> socket.socket:
    sock = server.connect()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\n{headers}\r\n".encode() + tail)
    return sock


@pytest.mark.parametrize(
    ("kind", "path", "prefix", "count"),
    [
        ("wsgi", "/generator", "gen", 4),
        ("wsgi", "/write", "write", 3),
        ("asgi", "/generator", "asgi", 4),
    ],
)
def test_each_block_arrives_as_it_is_produced(
    serve: Any, apps: Any, loop_name: str, kind: str, path: str, prefix: str, count: int
) -> None:
    site = Site(**{kind: f"{apps.__name__}:{kind}_app"})
    server = serve(site, loop=loop_name)
    names = [f"{prefix}{n}" for n in range(count)]
    with ask(server, path) as sock:
        seen = arrivals(sock, names)
    for name in names:
        delay = seen[name] - apps.yielded[name]
        assert 0 <= delay < 0.05, (name, delay)


def test_lists_keep_their_content_length(serve: Any, apps: Any, tools: Any) -> None:
    server = serve(Site(wsgi=f"{apps.__name__}:wsgi_app"))
    with ask(server, "/list") as sock:
        status, headers, body = tools.read_response(sock)
    assert (status, body) == (200, b"one;two;")
    assert headers["content-length"] == "8"
    with ask(server, "/generator") as sock:
        status, headers, _ = tools.read_response(sock)
    assert headers["transfer-encoding"] == "chunked"
    with ask(server, "/empty") as sock:
        status, headers, body = tools.read_response(sock)
    assert (status, body) == (204, b"")
    assert "transfer-encoding" not in headers


NEXT = b"GET /list HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
@pytest.mark.parametrize("path", ["/as-list", "/one-message", "/halves"])
def test_body_longer_than_content_length(
    serve: Any, apps: Any, tools: Any, caplog: Any, kind: str, path: str
) -> None:
    server = serve(Site(**{kind: f"{apps.__name__}:{kind}_app"}))
    # A second request waits on the same connection: extra bytes would be read as its answer.
    with ask(server, path, "X-Declare: 5\r\nX-Body: 0123456789\r\n", tail=NEXT) as sock:
        status, headers, body = tools.read_response(sock)
        assert (status, body) == (200, b"01234")
        rest = tools.read_until_closed(sock, timeout=2.0)
    assert b"56789" not in rest
    assert rest == b"" or rest.startswith(b"HTTP/1.1 200 OK\r\n"), rest
    assert any(
        r.levelno == logging.ERROR and "more than its Content-Length" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
@pytest.mark.parametrize("path", ["/as-list", "/halves"])
def test_body_shorter_than_content_length(
    serve: Any, apps: Any, caplog: Any, kind: str, path: str
) -> None:
    # The default idle timeout is 15 s: a client waiting for the missing bytes would hang.
    server = serve(Site(**{kind: f"{apps.__name__}:{kind}_app"}))
    started = time.monotonic()
    with ask(server, path, "X-Declare: 100\r\nX-Body: 0123456789\r\n") as sock:
        sock.settimeout(5)
        data = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
    assert time.monotonic() - started < 2.0
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\n0123456789")
    assert b"content-length: 100\r\n" in data.lower()
    assert any(
        r.levelno == logging.ERROR and "of the 100 bytes its Content-Length" in r.getMessage()
        for r in caplog.records
    )
