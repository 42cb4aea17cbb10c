"""inetd out of file descriptors: the installed ``twistd -n inetd`` runs with
``RLIMIT_NOFILE`` 64; echo clients (an internal service) use up its descriptors, then a
client of a ``nowait`` program arrives. Neither accept loop may spin or flood the log, and
both serve their waiting clients once descriptors are free again."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appcore.testing import descriptor_limit, descriptor_room, free_port

pytestmark = pytest.mark.timeout(60)

BIN = Path(sys.executable).parent
ME = pwd.getpwuid(os.getuid()).pw_name
NOFILE = 64
LOG_BOUND = 2000  # bytes: a line or two per service, where a spinning accept makes megabytes


@pytest.fixture
def clients_allowed() -> Iterator[None]:
    """This process holds every client socket: make sure it may."""
    with descriptor_room():
        yield


def _echo(sock: socket.socket, data: bytes, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    sock.sendall(data)
    received = b""
    while len(received) < len(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def test_out_of_descriptors_internal_and_program_services_pause_and_recover(
    tmp_path: Path, clients_allowed: None
) -> None:
    if not (BIN / "twistd").exists():
        pytest.fail("the twistd console script must be installed in this venv")
    echo_port, cat_port = free_port(), free_port()
    conf = tmp_path / "inetd.conf"
    conf.write_text(
        f"{echo_port} stream tcp nowait {ME} internal echo\n"
        f"{cat_port} stream tcp nowait {ME} /bin/cat cat\n"
    )
    log = tmp_path / "twistd.log"
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")}
    server = subprocess.Popen(
        [str(BIN / "twistd"), "-n", "--pidfile", "", "--logfile", str(log),
         "inetd", "--file", str(conf)],
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
        for _ in range(70):  # more than 64 descriptors can hold
            clients.append(socket.create_connection(("127.0.0.1", echo_port), timeout=3))
        assert _echo(clients[0], b"held\n") == b"held\n"
        late = socket.create_connection(("127.0.0.1", cat_port), timeout=3)
        clients.append(late)
        late.sendall(b"to cat\n")
        time.sleep(1.5)  # both services run into the limit meanwhile
        growth = log.stat().st_size - before
        assert growth < LOG_BOUND, log.read_text()[-3000:]
        assert _echo(clients[1], b"still served\n") == b"still served\n"
        for sock in clients[:50]:
            sock.close()
        late.settimeout(5)
        assert late.recv(100) == b"to cat\n"  # the program ran once descriptors were free
        assert _echo(clients[-2], b"waited\n") == b"waited\n"
        assert "Traceback" not in log.read_text()
        assert server.poll() is None
    finally:
        for sock in clients:
            sock.close()
        server.terminate()
        server.wait(10)
