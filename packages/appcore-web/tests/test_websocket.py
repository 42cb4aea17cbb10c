"""WebSocket (RFC 6455) for ASGI applications, with a real client: the ``websockets`` library.

The application is plain ASGI, written here, so every event it sees is checked; Starlette
and FastAPI endpoints are in test_frameworks.py.
"""

from __future__ import annotations

import asyncio
import importlib
import textwrap
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from appcore_web import Site

pytestmark = pytest.mark.timeout(30)

APP = """
seen = []  # every event the application received, in order

async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"plain http"})
        return
    assert scope["type"] == "websocket"
    event = await receive()
    seen.append(event)
    path = scope["path"]
    if path == "/refuse":
        await send({"type": "websocket.close", "code": 1000})
        return
    if path == "/crash-early":
        raise RuntimeError("boom before accept")
    subprotocol = scope["subprotocols"][0] if scope["subprotocols"] else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol,
                "headers": [(b"x-scope-path", path.encode())]})
    if path == "/close-4000":
        await send({"type": "websocket.close", "code": 4000, "reason": "bye now"})
        return
    if path == "/crash":
        raise RuntimeError("boom after accept")
    while True:
        event = await receive()
        seen.append(event)
        if event["type"] == "websocket.disconnect":
            return
        if event.get("text") == "close please":
            await send({"type": "websocket.close", "code": 4001})
            return
        if event.get("text") is not None:
            await send({"type": "websocket.send", "text": "echo:" + event["text"]})
        else:
            await send({"type": "websocket.send", "bytes": b"echo:" + event["bytes"]})
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    name = "wsapp_" + "".join(c if c.isalnum() else "_" for c in request.node.name)
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(APP))
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(name)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def ws_url(server: Any, path: str = "/") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def test_messages_fragments_ping_and_close(serve: Any, app: Any, loop_name: str) -> None:
    server = serve(Site(asgi=f"{app.__name__}:app"), loop=loop_name)

    async def talk() -> None:
        async with connect(ws_url(server, "/echo?x=1"), subprotocols=["chat"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "chat"
            assert ws.response is not None
            assert ws.response.headers["x-scope-path"] == "/echo"
            await ws.send("héllo")
            assert await ws.recv() == "echo:héllo"
            await ws.send(b"\x00\xffbin")
            assert await ws.recv() == b"echo:\x00\xffbin"
            # A fragmented message (three frames) arrives whole.
            await ws.send(["frag", "ment", "ed"])
            assert await ws.recv() == "echo:fragmented"
            await ws.send([b"a", b"b"])
            assert await ws.recv() == b"echo:ab"
            pong = await ws.ping(b"are you there")
            await asyncio.wait_for(pong, 5)
            await ws.send("close please")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4001

    run(talk())
    assert app.seen[0] == {"type": "websocket.connect"}
    texts = [e.get("text") or e.get("bytes") for e in app.seen[1:]]
    assert texts == ["héllo", b"\x00\xffbin", "fragmented", b"ab", "close please"]


def test_client_close_code_reaches_the_application(serve: Any, app: Any) -> None:
    server = serve(Site(asgi=f"{app.__name__}:app"))

    async def talk() -> None:
        async with connect(ws_url(server)) as ws:
            await ws.send("hi")
            await ws.recv()
            await ws.close(code=4321, reason="client leaving")

    run(talk())
    for _ in range(100):
        if app.seen and app.seen[-1]["type"] == "websocket.disconnect":
            break
        run(asyncio.sleep(0.02))
    assert app.seen[-1] == {
        "type": "websocket.disconnect",
        "code": 4321,
        "reason": "client leaving",
    }


def test_server_close_codes(serve: Any, app: Any) -> None:
    server = serve(Site(asgi=f"{app.__name__}:app"))

    async def closed_with(path: str) -> tuple[int, str]:
        async with connect(ws_url(server, path)) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason

    assert run(closed_with("/close-4000")) == (4000, "bye now")
    assert run(closed_with("/crash"))[0] == 1011

    async def refused(path: str) -> int:
        with pytest.raises(InvalidStatus) as refusal:
            async with connect(ws_url(server, path)):
                pass
        return refusal.value.response.status_code

    assert run(refused("/refuse")) == 403
    assert run(refused("/crash-early")) == 500


def test_message_size_limit(serve: Any, app: Any, tools: Any) -> None:
    server = serve(Site(asgi=f"{app.__name__}:app", limits=tools.fast_limits(ws_max_message=1000)))

    async def talk(message: Any) -> int:
        async with connect(ws_url(server), max_size=None) as ws:
            await ws.send("x" * 1000)
            assert await ws.recv() == "echo:" + "x" * 1000
            await ws.send(message)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code

    assert run(talk(b"y" * 1001)) == 1009
    assert run(talk(["z" * 600, "z" * 600])) == 1009  # the limit is per message, not frame
    assert run(talk("é" * 501)) == 1009  # counted in bytes: 1002 of them
    assert app.seen[-1]["type"] == "websocket.disconnect"
    assert app.seen[-1]["code"] == 1009


def test_bad_handshakes_and_plain_http(serve: Any, app: Any, tools: Any) -> None:
    server = serve(Site(asgi=f"{app.__name__}:app"))
    upgrade = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    for extra, status in (
        (b"", 400),  # no key, no version
        (b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n", 426),
    ):
        with server.connect() as sock:
            sock.sendall(upgrade + extra + b"\r\n")
            data = tools.read_until_closed(sock)
        assert data.startswith(b"HTTP/1.1 %d " % status), data[:80]
    # Static and WSGI sites answer an upgrade request as a plain one.
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert tools.read_response(sock)[2] == b"plain http"


def test_server_stop_says_going_away(serve: Any, app: Any) -> None:
    server = serve(Site(asgi=f"{app.__name__}:app"))

    async def talk() -> int:
        async with connect(ws_url(server)) as ws:
            await ws.send("hi")
            await ws.recv()
            loop = asyncio.get_running_loop()
            stopping = loop.run_in_executor(None, server.stop)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            await stopping
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code

    assert run(talk()) == 1001
