"""Real frameworks on the server: Flask and Starlette/FastAPI in-process, Django under the
installed ``twistd``.

Streams (server-sent events) must arrive as they are produced: each event carries the
``time.monotonic()`` at which the application produced it (one clock for every process on
Linux) and must reach the client within 50 ms. Uploads, errors and WebSocket endpoints go
through each framework's own machinery.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from appcore.testing import free_port
from appcore_web import Site

pytestmark = pytest.mark.timeout(60)

LATENCY = 0.05
EVENTS = 4
GAP = 0.2  # seconds between events: a server holding them back would show it
UPLOAD = os.urandom(300_000)

FLASK_APP = """
import hashlib, time
from flask import Flask, Response, abort, request, stream_with_context

app = Flask(__name__)

@app.route("/events")
def events():
    def generate():
        for n in range(EVENTS):
            if n:
                time.sleep(GAP)
            yield f"data: {n} {time.monotonic()!r}\\n\\n"
    return Response(stream_with_context(generate()), mimetype="text/event-stream")

@app.route("/upload", methods=["POST"])
def upload():
    data = request.files["file"].read()
    return {"name": request.files["file"].filename, "sha256": hashlib.sha256(data).hexdigest(),
            "field": request.form["field"]}

@app.route("/boom")
def boom():
    raise RuntimeError("flask view failed")

@app.route("/missing")
def missing():
    abort(404)
"""

STARLETTE_APP = """
import asyncio, hashlib, time
from fastapi import FastAPI, HTTPException, UploadFile, Form, WebSocket, WebSocketDisconnect
from starlette.responses import StreamingResponse

app = FastAPI()
closed = []

@app.get("/events")
async def events():
    async def generate():
        for n in range(EVENTS):
            if n:
                await asyncio.sleep(GAP)
            yield f"data: {n} {time.monotonic()!r}\\n\\n"
    return StreamingResponse(generate(), media_type="text/event-stream")

@app.post("/upload")
async def upload(file: UploadFile, field: str = Form()):
    data = await file.read()
    return {"name": file.filename, "sha256": hashlib.sha256(data).hexdigest(), "field": field}

@app.get("/teapot")
async def teapot():
    raise HTTPException(status_code=418, detail="short and stout")

@app.get("/boom")
async def boom():
    raise RuntimeError("fastapi view failed")

@app.websocket("/ws")
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                closed.append(message["code"])
                return
            if message.get("text") == "bye":
                await websocket.close(code=4002, reason="as asked")
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"].upper())
            else:
                await websocket.send_bytes(message["bytes"][::-1])
    except WebSocketDisconnect as gone:
        closed.append(gone.code)
"""

DJANGO_APP = """
import hashlib, time
from django.conf import settings

settings.configure(
    DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, SECRET_KEY="test only",
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    LOGGING_CONFIG=None,
)

from django.core.wsgi import get_wsgi_application
from django.http import JsonResponse, StreamingHttpResponse
from django.urls import path

def events(request):
    def generate():
        for n in range(EVENTS):
            if n:
                time.sleep(GAP)
            yield f"data: {n} {time.monotonic()!r}\\n\\n"
    return StreamingHttpResponse(generate(), content_type="text/event-stream")

def upload(request):
    data = request.FILES["file"].read()
    return JsonResponse({"name": request.FILES["file"].name,
                         "sha256": hashlib.sha256(data).hexdigest(),
                         "field": request.POST["field"]})

def boom(request):
    raise RuntimeError("django view failed")

urlpatterns = [path("events", events), path("upload", upload), path("boom", boom)]
application = get_wsgi_application()
"""


def write_module(folder: Path, source: str) -> str:
    """Write ``source`` as a uniquely named module in ``folder``; returns its name."""
    name = "fw_" + uuid.uuid4().hex[:12]
    header = f"EVENTS = {EVENTS}\nGAP = {GAP}\n"
    (folder / f"{name}.py").write_text(header + textwrap.dedent(source))
    return name


@pytest.fixture
def module_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def assert_events_arrive_as_produced(port: int, path: str = "/events") -> None:
    """Read server-sent events (http.client de-chunks them) and time each one's arrival."""
    with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=10)) as conn:
        conn.request("GET", path, headers={"Accept": "text/event-stream"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        delays = []
        for n in range(EVENTS):
            line = response.readline()  # returns as soon as the line is in
            arrived = time.monotonic()
            assert response.readline() == b"\n"
            label, number, produced = line.decode().split()
            assert (label, int(number)) == ("data:", n)
            delays.append(arrived - float(produced))
        assert response.read() == b""
    assert all(0 <= d < LATENCY for d in delays), delays


def multipart(field: str, name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="field"\r\n\r\n{field}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def check_upload(port: int, path: str = "/upload") -> None:
    body, ctype = multipart("a field", "data.bin", UPLOAD)
    with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=10)) as conn:
        conn.request("POST", path, body=body, headers={"Content-Type": ctype})
        response = conn.getresponse()
        assert response.status == 200, response.read()[:500]
        assert json.loads(response.read()) == {
            "name": "data.bin",
            "sha256": hashlib.sha256(UPLOAD).hexdigest(),
            "field": "a field",
        }


def get(port: int, path: str) -> tuple[int, bytes]:
    with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=10)) as conn:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()


# -- Flask (WSGI, in this process)


def test_flask(serve: Any, module_path: Path, loop_name: str) -> None:
    name = write_module(module_path, FLASK_APP)
    server = serve(Site(wsgi=f"{name}:app", threads=4), loop=loop_name)
    assert_events_arrive_as_produced(server.port)
    check_upload(server.port)
    status, body = get(server.port, "/boom")
    assert status == 500
    assert b"Internal Server Error" in body
    assert get(server.port, "/missing")[0] == 404


# -- Starlette / FastAPI (ASGI, in this process)


def test_fastapi_http(serve: Any, module_path: Path, loop_name: str) -> None:
    name = write_module(module_path, STARLETTE_APP)
    server = serve(Site(asgi=f"{name}:app"), loop=loop_name)
    assert_events_arrive_as_produced(server.port)
    check_upload(server.port)
    status, body = get(server.port, "/teapot")
    assert (status, json.loads(body)) == (418, {"detail": "short and stout"})
    assert get(server.port, "/boom")[0] == 500
    assert get(server.port, "/events")[0] == 200  # still serving after the failure


def test_fastapi_websocket(serve: Any, module_path: Path, loop_name: str) -> None:
    import importlib

    name = write_module(module_path, STARLETTE_APP)
    server = serve(Site(asgi=f"{name}:app"), loop=loop_name)
    url = f"ws://127.0.0.1:{server.port}/ws"

    async def talk() -> None:
        async with connect(url) as ws:
            await ws.send("shout")
            assert await ws.recv() == "SHOUT"
            await ws.send(b"\x01\x02\x03")
            assert await ws.recv() == b"\x03\x02\x01"
            await ws.send(["frag", "mented"])
            assert await ws.recv() == "FRAGMENTED"
            await asyncio.wait_for(await ws.ping(), 5)
            await ws.send("bye")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4002, "as asked")
        async with connect(url) as ws:
            await ws.send("hi")
            await ws.recv()
            await ws.close(code=4100)

    asyncio.run(asyncio.wait_for(talk(), 20))
    module = importlib.import_module(name)
    deadline = time.monotonic() + 5
    while not module.closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert module.closed == [4100]


# -- Django (WSGI, under the installed twistd)


@pytest.fixture(scope="module")
def django_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """``twistd -n web --wsgi`` serving a Django project; yields its port."""
    twistd = Path(sys.executable).parent / "twistd"
    if not twistd.exists():
        pytest.fail("the twistd console script must be installed in this venv")
    folder = tmp_path_factory.mktemp("django")
    name = write_module(folder, DJANGO_APP)
    port = free_port()
    log = folder / "twistd.log"
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")}
    server = subprocess.Popen(
        [str(twistd), "-n", "--pidfile", "", "--logfile", str(log), "web",
         "--wsgi", f"{name}:application", "--threads", "4",
         "--listen", f"tcp:{port}:interface=127.0.0.1"],
        cwd=folder,
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None, f"twistd exited {server.returncode}: {log.read_text()}"
            try:
                get(port, "/events")
                break
            except OSError:
                assert time.monotonic() < deadline, "twistd never served"
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(10)
    text = log.read_text()
    assert "django view failed" in text  # the view's failure is in the server's log


def test_django_streaming(django_server: int) -> None:
    assert_events_arrive_as_produced(django_server)


def test_django_upload_and_errors(django_server: int) -> None:
    check_upload(django_server)
    status, body = get(django_server, "/boom")
    assert status == 500
    assert get(django_server, "/nothing-here")[0] == 404
