"""systemd integration for real: socket activation and the sd_notify protocol."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from twistd_test_support import (
    TWISTD,
    echo,
    process_gone,
    read_pid,
    twistd_env,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

ACTIVATED_APP = """\
from appcore import Application, EchoFactory, StreamServerService

application = Application("activated")
StreamServerService("systemd:domain=INET:index=0", EchoFactory()).set_service_parent(application)
"""

# What systemd does for a socket unit: the listening socket becomes fd 3 of the service,
# and LISTEN_PID names the process the sockets are meant for (the one about to exec).
LAUNCHER = """\
import os, sys
fd = int(sys.argv[1])
os.dup2(fd, 3)
os.close(fd)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


def _listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def _launch(tmp_path: Path, sock: socket.socket, args: list[str]) -> subprocess.Popen[str]:
    app = tmp_path / "activated.py"
    app.write_text(ACTIVATED_APP)
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    fd = sock.fileno()
    return subprocess.Popen(
        [sys.executable, str(launcher), str(fd), str(TWISTD), *args, "-y", str(app)],
        cwd=tmp_path,
        env=twistd_env(),
        pass_fds=(fd,),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_socket_activation_in_the_foreground(tmp_path: Path) -> None:
    sock = _listening_socket()
    port = sock.getsockname()[1]
    proc = _launch(tmp_path, sock, ["-n"])
    sock.close()  # from now on only twistd holds the listening socket
    try:
        assert echo(port, b"activated", timeout=10) == b"activated"
        assert read_pid(tmp_path / "twistd.pid") == proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopping on SIGTERM" in out


def test_socket_activation_survives_daemonizing(tmp_path: Path, daemons: list[int]) -> None:
    sock = _listening_socket()
    port = sock.getsockname()[1]
    proc = _launch(tmp_path, sock, [])
    sock.close()
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    assert pid != proc.pid
    # The sockets were handed to the starting process; the daemon took them over.
    assert echo(port, b"daemon", timeout=5) == b"daemon"
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")


def test_socket_activation_without_sockets_fails_clearly(tmp_path: Path) -> None:
    app = tmp_path / "activated.py"
    app.write_text(ACTIVATED_APP)
    result = subprocess.run(
        [str(TWISTD), "-y", str(app)],
        cwd=tmp_path,
        env=twistd_env(),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 69
    assert result.stderr == (
        "twistd: error: systemd:domain=INET:index=0: no sockets were passed "
        "(LISTEN_FDS is not set)\n"
    )


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_notify_ready_and_stopping(tmp_path: Path, port: int, abstract: bool) -> None:
    from twistd_test_support import write_echo_app

    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"twistd-test-{os.getpid()}-{port}"
        notify.bind("\0" + name)
        address = "@" + name
    else:
        address = str(tmp_path / "notify.sock")
        notify.bind(address)
    notify.settimeout(15)
    app = write_echo_app(tmp_path, port)
    proc = subprocess.Popen(
        [str(TWISTD), "-n", "--pidfile", "", "-y", str(app)],
        cwd=tmp_path,
        env=twistd_env(NOTIFY_SOCKET=address),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    signalled = False
    try:
        ready = notify.recv(4096).decode().splitlines()
        assert "READY=1" in ready
        assert f"MAINPID={proc.pid}" in ready
        # READY=1 means serving: no retry needed.
        assert echo(port) == b"ping"
        proc.send_signal(signal.SIGTERM)
        signalled = True
        stopping = notify.recv(4096).decode().splitlines()
        assert stopping == ["STOPPING=1"]
    finally:
        if not signalled:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
        notify.close()
    assert proc.returncode == 0
