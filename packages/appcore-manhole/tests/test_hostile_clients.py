"""Manholes against clients they should not trust: where they listen, guessing, dawdling.

Each test runs the installed ``twistd`` as a subprocess and talks to it over 127.0.0.1 or a
UNIX socket, as an attacker on this machine would.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from appcore._passwords import password_line
from appcore.testing import free_port
from appcore_manhole._endpoint import loopback_by_default

pytestmark = pytest.mark.timeout(60)

BIN = Path(sys.executable).parent


@pytest.fixture
def passwords(tmp_path: Path) -> Path:
    path = tmp_path / "manhole.passwd"
    path.write_text(password_line("alice", "secret", log_n=10) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def twistd(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Started ``twistd -n`` processes, stopped at the end of the test."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
        process.wait(10)


def _start(
    started: list[subprocess.Popen[bytes]], cwd: Path, *args: str
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")}
    log = open(cwd / f"twistd-{len(started)}.log", "wb")  # noqa: SIM115 - the child holds it
    process = subprocess.Popen(
        [str(BIN / "twistd"), "-n", "--pidfile", "", *args],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    started.append(process)
    return process


def _wait_until(ready: object, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, f"twistd exited {process.returncode} before {what}"
        if callable(ready) and ready():
            return
        time.sleep(0.05)
    raise AssertionError(f"never got {what}")


def _connectable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _listening_addresses(pid: int, port: int) -> set[str]:
    """The local IPv4 addresses (hex, as /proc shows them) listening on ``port``."""
    found = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, _, hex_port = fields[1].partition(":")
        if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
            found.add(address)
    return found


# --- item 14: every endpoint kind defaults to this machine only


@pytest.mark.parametrize("kind", ["telnet", "ssh-manhole"])
def test_unix_manhole_socket_is_owner_only_by_default(
    kind: str, tmp_path: Path, passwords: Path, twistd: list[subprocess.Popen[bytes]]
) -> None:
    if kind == "telnet":
        options = ["--passwords", str(passwords)]
    else:
        import asyncssh

        keys = tmp_path / "authorized_keys"
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        keys.write_bytes(client_key.export_public_key())
        options = ["--authorized-keys", str(keys), "--host-key", str(tmp_path / "host_key")]
    default, explicit = tmp_path / "default.sock", tmp_path / "explicit.sock"
    first = _start(twistd, tmp_path, kind, "--listen", f"unix:{default}", *options)
    second = _start(twistd, tmp_path, kind, "--listen", f"unix:{explicit}:mode=660", *options)
    _wait_until(default.exists, first, f"{default}")
    _wait_until(explicit.exists, second, f"{explicit}")
    assert stat.S_IMODE(default.stat().st_mode) == 0o600
    assert stat.S_IMODE(explicit.stat().st_mode) == 0o660  # asked for: honoured


def test_ssl_manhole_listens_on_loopback_by_default(
    tmp_path: Path,
    passwords: Path,
    tls_files: tuple[str, str],
    twistd: list[subprocess.Popen[bytes]],
) -> None:
    cert, key = tls_files
    port = free_port()
    listen = f"ssl:{port}:privateKey={key}:certKey={cert}"
    process = _start(twistd, tmp_path, "telnet", "--listen", listen, "--passwords", str(passwords))
    _wait_until(lambda: _connectable(port), process, f"port {port}")
    assert _listening_addresses(process.pid, port) == {"0100007F"}  # 127.0.0.1 only


def test_local_only_defaults_for_every_kind() -> None:
    assert loopback_by_default("tcp:4040").interface == "127.0.0.1"  # type: ignore[attr-defined]
    assert loopback_by_default("tcp6:4040").interface == "::1"  # type: ignore[attr-defined]
    ssl = loopback_by_default("ssl:4040:privateKey=k.pem")
    assert ssl.interface == "127.0.0.1"  # type: ignore[attr-defined]
    assert ssl.description == "ssl:4040:privateKey=k.pem:interface=127.0.0.1"
    unix = loopback_by_default("unix:/run/m.sock")
    assert unix.mode == 0o600  # type: ignore[attr-defined]
    assert unix.description == "unix:/run/m.sock:mode=600"
    # What is spelled out stays.
    assert loopback_by_default("tcp:4040:0.0.0.0").interface == "0.0.0.0"  # type: ignore[attr-defined]
    assert loopback_by_default("unix:/run/m.sock:mode=660").mode == 0o660  # type: ignore[attr-defined]


# --- item 15: guessing across connections, and clients that never log in


def _guess(port: int, count: int) -> list[float]:
    """Guess wrong ``count`` times on one telnet connection; when each answer came."""
    answered = []
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        text = b""
        for _ in range(count):
            while b"Username: " not in text:
                chunk = sock.recv(4096)
                assert chunk, text
                text += chunk
            text = b""
            sock.sendall(b"alice\r\n")
            while b"Password: " not in text:
                text += sock.recv(4096)
            sock.sendall(b"wrong\r\n")
            while b"Login incorrect" not in text and b"Too many" not in text:
                chunk = sock.recv(4096)
                assert chunk, text
                text += chunk
            answered.append(time.monotonic())
            text = text.split(b"Login incorrect", 1)[-1]
    return answered


def test_telnet_failed_logins_are_limited_per_address_across_connections(
    tmp_path: Path, passwords: Path, twistd: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    process = _start(
        twistd, tmp_path, "telnet", "--listen", f"tcp:{port}", "--passwords", str(passwords),
        "--failure-delay", "0", "--attempts", "3",
    )  # fmt: skip
    _wait_until(lambda: _connectable(port), process, f"port {port}")
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        answers = sorted(t for times in pool.map(_guess, [port] * 6, [2] * 6) for t in times)
    # 12 failures at 2 a second after a burst of 2: at least 5 s, however many connections.
    assert len(answers) == 12
    assert answers[-1] - started >= 4.5, answers[-1] - started
    in_first_second = [t for t in answers if t - started < 1.0]
    assert len(in_first_second) <= 4


def test_telnet_client_that_does_not_log_in_is_disconnected(
    tmp_path: Path, passwords: Path, twistd: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    process = _start(
        twistd, tmp_path, "telnet", "--listen", f"tcp:{port}", "--passwords", str(passwords),
        "--login-timeout", "1",
    )  # fmt: skip
    _wait_until(lambda: _connectable(port), process, f"port {port}")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
        assert b"Login timed out" in received
        assert time.monotonic() - started < 5


def _ssh_manhole(
    tmp_path: Path, twistd: list[subprocess.Popen[bytes]], *options: str
) -> tuple[int, subprocess.Popen[bytes]]:
    import asyncssh

    keys = tmp_path / "authorized_keys"
    keys.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_public_key())
    port = free_port()
    process = _start(
        twistd, tmp_path, "ssh-manhole", "--listen", f"tcp:{port}",
        "--authorized-keys", str(keys), "--host-key", str(tmp_path / "host_key"), *options,
    )  # fmt: skip
    _wait_until(lambda: _connectable(port), process, f"port {port}")
    return port, process


def test_ssh_refused_keys_are_limited_per_address_across_connections(
    tmp_path: Path, twistd: list[subprocess.Popen[bytes]]
) -> None:
    import asyncio

    import asyncssh

    from appcore.testing import run_coroutine

    port, _ = _ssh_manhole(tmp_path, twistd)
    wrong = asyncssh.generate_private_key("ssh-ed25519")

    async def offer() -> float:
        with pytest.raises(asyncssh.PermissionDenied):
            async with asyncssh.connect(
                "127.0.0.1", port, username="mallory", client_keys=[wrong], known_hosts=None,
                agent_path=None, password=None, kbdint_auth=False, config=None,
            ):  # fmt: skip
                pass
        return time.monotonic()

    async def guess_in_parallel() -> list[float]:
        return list(await asyncio.gather(*(offer() for _ in range(6))))

    started = time.monotonic()
    answers = sorted(run_coroutine(guess_in_parallel(), timeout=30))
    # 6 refused keys at 2 a second after a burst of 2: at least 2 s over all connections.
    assert answers[-1] - started >= 1.8, answers[-1] - started


def test_ssh_client_that_does_not_log_in_is_disconnected(
    tmp_path: Path, twistd: list[subprocess.Popen[bytes]]
) -> None:
    port, _ = _ssh_manhole(tmp_path, twistd, "--login-timeout", "1")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"SSH-2.0-dawdler\r\n")
        while sock.recv(4096):
            pass
        assert time.monotonic() - started < 5
