"""A WSGI and an ASGI application, written here, answering through the server."""

from __future__ import annotations

import http.client
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from appcore import UnavailableError, UsageError
from appcore_web import Site

pytestmark = pytest.mark.timeout(30)

WSGI_APP = """
import json
closed = []

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (bytes([i % 256]) * 50000 for i in range(10))
    if path == "/write":
        write = start_response("201 Created", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"and returned"]
    if path == "/closing":
        class Body:
            def __iter__(self):
                yield b"body"
            def close(self):
                closed.append(True)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()
    if path == "/closed":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(len(closed)).encode()]
    if path == "/split":
        start_response("200 OK", [("X-Evil", "a\\r\\nSet-Cookie: x=1")])
        return [b"never"]
    body = environ["wsgi.input"].read()
    info = {
        "method": environ["REQUEST_METHOD"],
        "path": path,
        "query": environ["QUERY_STRING"],
        "content_type": environ.get("CONTENT_TYPE", ""),
        "length": environ.get("CONTENT_LENGTH", ""),
        "host": environ.get("HTTP_HOST"),
        "custom": environ.get("HTTP_X_CUSTOM"),
        "server_port": environ["SERVER_PORT"],
        "protocol": environ["SERVER_PROTOCOL"],
        "scheme": environ["wsgi.url_scheme"],
        "remote": environ["REMOTE_ADDR"],
        "version": list(environ["wsgi.version"]),
        "body": body.decode("latin-1"),
    }
    data = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [data]
"""

ASGI_APP = """
import json
events = []

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            events.append(message["type"])
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/events":
        body = json.dumps(events).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        for i in range(5):
            await send({"type": "http.response.body", "body": b"part%d;" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    message = await receive()
    info = {
        "method": scope["method"],
        "path": path,
        "raw_path": scope["raw_path"].decode(),
        "query": scope["query_string"].decode(),
        "http_version": scope["http_version"],
        "scheme": scope["scheme"],
        "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
        "body": message["body"].decode(),
        "more": message["more_body"],
        "client_is_local": scope["client"][0] == "127.0.0.1",
    }
    await send({"type": "http.response.start", "status": 202,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(info).encode()})
"""


@pytest.fixture
def apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    """Write the two applications as a module; returns its (unique) name."""
    name = f"webapps_{request.node.name.replace('[', '_').replace(']', '_').replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(WSGI_APP).replace("def app(", "def wsgi_app(")
        + textwrap.dedent(ASGI_APP).replace("async def app(", "async def asgi_app(")
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def request(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def test_wsgi_environ_and_body(serve: Any, apps: str, loop_name: str) -> None:
    server = serve(Site(wsgi=f"{apps}:wsgi_app", threads=2), loop=loop_name)
    response, data = request(
        server.port,
        "POST",
        "/some%20path?a=1&b=2",
        body=b"hello body",
        headers={"Content-Type": "text/plain", "X-Custom": "yes"},
    )
    assert response.status == 200
    info = json.loads(data)
    assert info == {
        "method": "POST",
        "path": "/some path",
        "query": "a=1&b=2",
        "content_type": "text/plain",
        "length": "10",
        "host": f"127.0.0.1:{server.port}",
        "custom": "yes",
        "server_port": str(server.port),
        "protocol": "HTTP/1.1",
        "scheme": "http",
        "remote": "127.0.0.1",
        "version": [1, 0],
        "body": "hello body",
    }
    assert response.getheader("Content-Length") == str(len(data))


def test_wsgi_chunked_request_and_streaming(serve: Any, apps: str) -> None:
    server = serve(Site(wsgi=f"{apps}:wsgi_app"))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("PUT", "/echo", body=iter([b"abc", b"def", b"ghi"]), encode_chunked=True)
    response = conn.getresponse()
    info = json.loads(response.read())
    assert info["body"] == "abcdefghi"
    assert info["length"] == "9"
    # Same connection: a streamed (chunked) response.
    conn.request("GET", "/stream")
    response = conn.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    body = response.read()
    assert body == b"".join(bytes([i]) * 50000 for i in range(10))
    conn.request("GET", "/write")
    response = conn.getresponse()
    assert (response.status, response.read()) == (201, b"written and returned")
    conn.close()


def test_wsgi_close_errors_and_head(serve: Any, apps: str) -> None:
    server = serve(Site(wsgi=f"{apps}:wsgi_app"))
    assert request(server.port, "GET", "/closing")[1] == b"body"
    assert request(server.port, "GET", "/closed")[1] == b"1"
    response, _ = request(server.port, "GET", "/boom")
    assert response.status == 500
    response, data = request(server.port, "GET", "/split")
    assert response.status == 500
    assert response.getheader("Set-Cookie") is None
    response, data = request(server.port, "HEAD", "/anything")
    assert response.status == 200
    assert data == b""
    assert int(response.getheader("Content-Length") or 0) > 0


def test_asgi_app(serve: Any, apps: str, loop_name: str) -> None:
    server = serve(Site(asgi=f"{apps}:asgi_app"), loop=loop_name)
    response, data = request(
        server.port, "POST", "/p%C3%A4th?q=1", body=b"payload", headers={"X-Thing": "v"}
    )
    assert response.status == 202
    info = json.loads(data)
    assert info["path"] == "/p\u00e4th"
    assert info["raw_path"] == "/p%C3%A4th"
    assert info["query"] == "q=1"
    assert info["body"] == "payload"
    assert info["more"] is False
    assert info["headers"]["x-thing"] == "v"
    assert info["http_version"] == "1.1"
    assert info["client_is_local"] is True
    response, data = request(server.port, "GET", "/stream")
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert data == b"part0;part1;part2;part3;part4;"
    response, data = request(server.port, "GET", "/events")
    assert json.loads(data) == ["lifespan.startup"]
    response, _ = request(server.port, "GET", "/boom")
    assert response.status == 500


def test_asgi_lifespan_shutdown(serve: Any, apps: str) -> None:
    import importlib

    server = serve(Site(asgi=f"{apps}:asgi_app"))
    assert request(server.port, "GET", "/events")[0].status == 200
    server.stop()
    module = importlib.import_module(apps)
    assert module.events == ["lifespan.startup", "lifespan.shutdown"]


def test_bad_application_specs(apps: str) -> None:
    with pytest.raises(UsageError):
        Site(wsgi="no-colon")
    with pytest.raises(UsageError):
        Site(wsgi=f"{apps}:wsgi_app", asgi=f"{apps}:asgi_app")
    with pytest.raises(UsageError):
        Site()
    from appcore_web._apps import load_app

    with pytest.raises(UnavailableError, match="cannot import"):
        load_app("no_such_module_here:app")
    with pytest.raises(UnavailableError, match="has no"):
        load_app(f"{apps}:missing")
