"""A stream server out of file descriptors: bounded log, open connections served, recovery.

The server is a real subprocess (an echo application run by ``run_application``) whose
``RLIMIT_NOFILE`` is set low before it starts; the clients are plain sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from appcore import available_loops
from appcore.testing import descriptor_limit, descriptor_room

NOFILE = 64
CLIENTS = 80  # well past what 64 descriptors can hold; the rest wait in the backlog
LOG_BOUND = 2000  # bytes: a line or two, where a traceback per attempt makes tens of KB

SERVER = """
import sys
from appcore import Application, EchoFactory, StreamServerService, configure_logging
from appcore import run_application

port, loop, log = sys.argv[1:]
configure_logging(logfile=log)
app = Application("echo")
endpoint = f"tcp:{port}:interface=127.0.0.1:backlog=128"
StreamServerService(endpoint, EchoFactory()).set_service_parent(app)
run_application(app, loop, on_started=lambda: print("ready", flush=True))
"""


@pytest.fixture
def clients_allowed() -> Iterator[None]:
    """This process holds every client socket: make sure it may."""
    with descriptor_room():
        yield


def _echo(sock: socket.socket, data: bytes, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    sock.sendall(data)
    received = b""
    deadline = time.monotonic() + timeout
    while len(received) < len(data) and time.monotonic() < deadline:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=3.0)


@pytest.mark.parametrize("loop", available_loops())
def test_out_of_descriptors_pauses_logs_once_and_recovers(
    loop: str, free_port: int, tmp_path: Path, clients_allowed: None
) -> None:
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(free_port), loop, str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=descriptor_limit(NOFILE),
    )
    clients: list[socket.socket] = []
    try:
        assert server.stdout is not None
        assert server.stdout.readline() == b"ready\n", server.stderr.read() if server.stderr else ""
        before = log.stat().st_size
        for _ in range(CLIENTS):
            clients.append(_connect(free_port))
        assert _echo(clients[0], b"first\n") == b"first\n"
        time.sleep(1.5)  # the server keeps running into its limit meanwhile

        # The connections it holds are still served.
        assert _echo(clients[1], b"still served\n") == b"still served\n"
        # Closing some lets the ones waiting in the backlog in, oldest first, none dropped.
        for sock in clients[:50]:
            sock.close()
        assert _echo(clients[-1], b"waited\n") == b"waited\n"
        with _connect(free_port) as late:
            assert _echo(late, b"late\n") == b"late\n"

        growth = log.stat().st_size - before
        text = log.read_text()
        assert growth < LOG_BOUND, text[-3000:]
        assert "not accepting for now" in text
        assert "Traceback" not in text
        assert server.poll() is None
    finally:
        for sock in clients:
            sock.close()
        server.terminate()
        server.wait(10)


def test_reserve_grows_with_the_limit() -> None:
    from appcore.net._accept import reserve

    assert reserve(64) == 4
    assert reserve(256) == 16
    assert reserve(1 << 20) == 32
    assert reserve(8) == 2


def test_closing_stops_accepting_and_frees_the_port(
    arun: Callable[..., Any], free_port: int
) -> None:
    from appcore import Acceptor

    async def main() -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", free_port))
        listener.listen(8)
        listener.setblocking(False)
        accepted: list[socket.socket] = []
        acceptor = Acceptor(listener, lambda conn, _: accepted.append(conn), name="test")
        acceptor.start()
        loop = asyncio.get_running_loop()
        _, writer = await asyncio.open_connection("127.0.0.1", free_port)
        deadline = loop.time() + 5
        while not accepted and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert len(accepted) == 1
        assert accepted[0].getblocking() is False
        acceptor.close()
        assert not acceptor.is_serving()
        with socket.socket() as again:  # the port is free at once
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            again.bind(("127.0.0.1", free_port))
        writer.close()
        for conn in accepted:
            conn.close()

    arun(main(), timeout=10)
