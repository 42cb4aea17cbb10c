"""The web server out of file descriptors: the installed ``twistd -n web`` runs with
``RLIMIT_NOFILE`` 64 and gets more keep-alive clients than that allows.

It must pause accepting (one log line, no tracebacks), close idle keep-alive connections
to let the waiting clients in (HTTP allows that), answer every one of them, and still
serve a new client.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appcore import available_loops
from appcore.testing import descriptor_limit, descriptor_room, free_port

pytestmark = pytest.mark.timeout(60)

BIN = Path(sys.executable).parent
NOFILE = 64
CLIENTS = 80
LOG_BOUND = 2000  # bytes: a line or two; a traceback per failed accept makes tens of KB
REQUEST = b"GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
def clients_allowed() -> Iterator[None]:
    """This process holds every client socket: make sure it may."""
    with descriptor_room():
        yield


def _response(sock: socket.socket, deadline: float) -> bytes:
    """One whole response to REQUEST (the body is 512 bytes), or what came before EOF."""
    data = b""
    while not (b"\r\n\r\n" in data and data.endswith(b"x" * 512)):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("loop", available_loops())
def test_out_of_descriptors_every_client_is_answered(
    loop: str, tmp_path: Path, clients_allowed: None
) -> None:
    if not (BIN / "twistd").exists():
        pytest.fail("the twistd console script must be installed in this venv")
    site = tmp_path / "site"
    site.mkdir()
    (site / "small.txt").write_bytes(b"x" * 512)
    log = tmp_path / "twistd.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")}
    server = subprocess.Popen(
        [str(BIN / "twistd"), "-n", "-r", loop, "--pidfile", "", "--logfile", str(log),
         "web", "--path", str(site), "--listen", f"tcp:{port}:interface=127.0.0.1:backlog=128"],
        cwd=tmp_path,
        env=env,
        preexec_fn=descriptor_limit(NOFILE),
    )  # fmt: skip
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 15
        while not log.exists() or b"started" not in log.read_bytes():
            assert server.poll() is None, f"twistd exited {server.returncode}"
            assert time.monotonic() < deadline, "twistd never started"
            time.sleep(0.05)
        before = log.stat().st_size
        for _ in range(CLIENTS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=3)
            sock.sendall(REQUEST)
            clients.append(sock)
        # Every client gets its answer, those waiting in the backlog too: idle keep-alive
        # connections make room for them.
        deadline = time.monotonic() + 10
        for number, sock in enumerate(clients):
            answer = _response(sock, deadline)
            assert answer.startswith(b"HTTP/1.1 200"), (number, answer[:100])
        # And a client arriving now, while the server is still at its limit.
        with socket.create_connection(("127.0.0.1", port), timeout=3) as late:
            late.sendall(REQUEST)
            assert _response(late, time.monotonic() + 5).startswith(b"HTTP/1.1 200")
        text = log.read_text()
        assert log.stat().st_size - before < LOG_BOUND, text[-3000:]
        assert "Traceback" not in text
        assert server.poll() is None
    finally:
        for sock in clients:
            sock.close()
        server.terminate()
        server.wait(10)
