"""Fixtures for the web server tests: a site folder and a server running on a thread.

The server runs on its own event loop in a background thread, so tests talk to it with
ordinary blocking clients (http.client, raw sockets, a curl subprocess).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from appcore import new_event_loop
from appcore.testing import free_port as _free_port
from appcore.testing import run_coroutine, self_signed_certificate
from appcore_web import Limits, Site, WebService

SMALL = b"small file contents\n"
BIG_SIZE = 3 * 1024 * 1024 + 17  # above the in-memory cache limit: goes by sendfile


class RunningServer:
    """A WebService serving on 127.0.0.1 in a background thread."""

    def __init__(self, service: WebService, loop_name: str) -> None:
        self.service = service
        self.loop = new_event_loop(loop_name)
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as err:  # reported to the test thread
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    async def _start(self) -> None:
        self.service.privileged_start_service()
        started = self.service.start_service()
        if started is not None:
            await started
        child = self.service.services[0]
        port = getattr(child, "port", None)
        if port is None:
            port = child.ports[0]  # type: ignore[attr-defined]
        self.port = int(port)

    def start(self) -> RunningServer:
        self._thread.start()
        if not self._ready.wait(15):
            raise TimeoutError("server did not start")
        if self._error is not None:
            raise self._error
        return self

    def call(self, coro: Any, timeout: float = 15.0) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def stop() -> None:
            result = self.service.stop_service()
            if result is not None:
                await result

        try:
            self.call(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    def connect(self, timeout: float = 5.0) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return sock

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def www(tmp_path: Path) -> Path:
    """A site folder: small and big files, a sub-folder, an index, odd names."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "small.txt").write_bytes(SMALL)
    (root / "big.bin").write_bytes(os.urandom(BIG_SIZE))
    (root / "page.html").write_bytes(b"<p>page</p>\n")
    (root / "data.json").write_bytes(b'{"a": 1}\n')
    docs = root / "docs"
    docs.mkdir()
    (docs / "index.html").write_bytes(b"<h1>docs index</h1>\n")
    plain = root / "plain"
    plain.mkdir()
    (plain / '<b>&"odd.txt').write_bytes(b"odd\n")
    (plain / "space name.txt").write_bytes(b"space\n")
    (tmp_path / "secret.txt").write_bytes(b"TOP SECRET\n")
    return root


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_name(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on the standard loop and on uvloop."""
    return str(request.param)


@pytest.fixture
def serve() -> Iterator[Callable[..., RunningServer]]:
    """Start a server for a Site: ``serve(site, loop="asyncio", workers=1, endpoint=...)``."""
    running: list[RunningServer] = []

    def start(
        site: Site,
        *,
        loop: str = "asyncio",
        workers: int = 1,
        endpoint: str = "tcp:0:interface=127.0.0.1",
    ) -> RunningServer:
        service = WebService(site, [endpoint], workers=workers)
        server = RunningServer(service, loop).start()
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


def fast_limits(**changes: Any) -> Limits:
    """Limits with short timeouts so that timeout tests take a fraction of a second."""
    values: dict[str, Any] = {
        "idle_timeout": 0.6,
        "request_timeout": 0.6,
        "send_timeout": 0.6,
        "shutdown_timeout": 0.5,
    }
    values.update(changes)
    return Limits(**values)


def read_response(sock: socket.socket, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Read one response with a Content-Length (or until close) from a raw socket."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"closed before a full head: {data!r}")
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        rest += piece
    return status, headers, rest[:length]


def read_until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            break
        if not piece:
            break
        chunks.append(piece)
    return b"".join(chunks)


def split_responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split bytes holding several Content-Length framed responses."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError(f"incomplete response head: {data[:200]!r}")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), headers, rest[:length]))
        data = rest[length:]
    return out


class Tools:
    """Helpers handed to tests (test modules cannot import conftest by name)."""

    SMALL = SMALL
    BIG_SIZE = BIG_SIZE
    fast_limits = staticmethod(fast_limits)
    read_response = staticmethod(read_response)
    read_until_closed = staticmethod(read_until_closed)
    split_responses = staticmethod(split_responses)


@pytest.fixture
def tools() -> type[Tools]:
    return Tools


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return _free_port()


@pytest.fixture
def arun() -> Callable[..., Any]:
    """Run a coroutine on a fresh loop (``loop="asyncio"``), bounded by ``timeout`` seconds."""
    return run_coroutine


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for ``localhost`` and 127.0.0.1: ``(cert.pem, key.pem)``."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))
