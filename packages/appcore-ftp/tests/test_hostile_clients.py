"""FTP against clients it should not trust: password guessing over many connections, and
clients that connect and never log in. The server is the installed ``twistd`` running the
ftp type, as a subprocess; the clients are plain sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from appcore._passwords import password_line

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def ftp_server(
    tmp_path: Path, request: pytest.FixtureRequest, twistd_ftp: Callable[..., int]
) -> int:
    """``twistd -n ftp`` with one named user; the port it listens on."""
    root = tmp_path / "root"
    root.mkdir()
    passwd = tmp_path / "passwd"
    passwd.write_text(password_line("alice", "secret", log_n=10) + "\n", encoding="utf-8")
    extra: list[str] = getattr(request, "param", [])
    return twistd_ftp(root, "--passwd", str(passwd), *extra)


def _reply(sock: socket.socket) -> bytes:
    """One FTP reply line (the last line of a multi-line reply)."""
    line = b""
    while True:
        byte = sock.recv(1)
        if not byte:
            return line
        line += byte
        if line.endswith(b"\r\n"):
            if line[3:4] == b" ":
                return line
            line = b""


def _guess(port: int, count: int) -> list[float]:
    """Log in with a wrong password ``count`` times on one connection; when each failed."""
    failed = []
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        assert _reply(sock).startswith(b"220")
        for _ in range(count):
            sock.sendall(b"USER alice\r\n")
            assert _reply(sock).startswith(b"331")
            sock.sendall(b"PASS wrong\r\n")
            assert _reply(sock).startswith(b"530")
            failed.append(time.monotonic())
    return failed


def test_failed_logins_are_limited_per_address_across_connections(ftp_server: int) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        failures = sorted(t for times in pool.map(_guess, [ftp_server] * 6, [2] * 6) for t in times)
    # 12 failures at 2 a second after a burst of 2: at least 5 s, however many connections
    # (each connection alone would be held back only by the 1 s delay after its failure).
    assert len(failures) == 12
    assert failures[-1] - started >= 4.5, failures[-1] - started


@pytest.mark.parametrize("ftp_server", [["--login-timeout", "1"]], indirect=True)
def test_client_that_does_not_log_in_is_disconnected(ftp_server: int) -> None:
    with socket.create_connection(("127.0.0.1", ftp_server), timeout=10) as sock:
        started = time.monotonic()
        assert _reply(sock).startswith(b"220")
        assert _reply(sock).startswith(b"421")
        assert sock.recv(100) == b""  # and hung up
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("ftp_server", [["--login-timeout", "1"]], indirect=True)
def test_a_session_logged_in_outlives_the_login_timeout(ftp_server: int) -> None:
    with socket.create_connection(("127.0.0.1", ftp_server), timeout=10) as sock:
        assert _reply(sock).startswith(b"220")
        # USER then PASS: aioftp replaces its record of the login on the way.
        sock.sendall(b"USER alice\r\n")
        assert _reply(sock).startswith(b"331")
        sock.sendall(b"PASS secret\r\n")
        assert _reply(sock).startswith(b"230")
        time.sleep(1.5)
        sock.sendall(b"NOOP\r\n")
        assert _reply(sock).startswith(b"200")
