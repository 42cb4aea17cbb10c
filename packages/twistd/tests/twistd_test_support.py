"""Helpers for twistd's tests: the installed console script, free ports, real clients.

Every test runs the real ``twistd`` console script as a subprocess and talks to it over
127.0.0.1. The ``twistd-fixture`` server type (tests/fixtures/plugins) is found through
``PYTHONPATH``, exactly as a user's dropped-in plugin would be.
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TWISTD = Path(sys.executable).parent / "twistd"
PLUGINS = Path(__file__).parent / "fixtures" / "plugins"
if str(PLUGINS) not in sys.path:
    # In-process helpers build fixture applications with the same classes twistd loads.
    sys.path.insert(0, str(PLUGINS))

ECHO_APP = """\
from appcore import Application, EchoFactory, StreamServerService

application = Application({name!r})
StreamServerService({endpoint!r}, EchoFactory()).set_service_parent(application)
"""


def make_fixture_app(**values: Any) -> Any:
    """An application of the ``twistd-fixture`` server type (echo + start counter)."""
    module = importlib.import_module("appcore_plugins.twistd_fixture")
    return module.make_service(values)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def endpoint(port: int) -> str:
    return f"tcp:{port}:interface=127.0.0.1"


def twistd_env(**extra: str) -> dict[str, str]:
    """The environment for a twistd subprocess: fixture plugins on the path, no systemd."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "JOURNAL_STREAM")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_twistd(
    args: list[str], cwd: Path, *, env: dict[str, str] | None = None, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    """Run twistd to completion (a daemonizing start returns when the daemon is ready)."""
    return subprocess.run(
        [str(TWISTD), *args],
        cwd=cwd,
        env=env or twistd_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def echo(port: int, payload: bytes = b"ping", timeout: float = 5.0) -> bytes:
    """One round trip to an echo service: connect, send, read the same length back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = sock.recv(len(payload) - len(received))
            if not chunk:
                break
            received += chunk
    return received


def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``check`` every 10 ms until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def wait_for_echo(port: int, timeout: float = 10.0) -> None:
    def serving() -> bool:
        try:
            return echo(port, b"up", timeout=1) == b"up"
        except OSError:
            return False

    wait_until(serving, timeout, f"an echo service on port {port}")


def process_gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie awaiting its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("State:"):
                    return "Z" in line.split()[1]
    except FileNotFoundError:
        return True
    return False


def write_echo_app(directory: Path, port: int, name: str = "echo") -> Path:
    """A ``-y`` file defining an echo application on ``port``."""
    path = directory / f"{name}_app.py"
    path.write_text(ECHO_APP.format(name=name, endpoint=endpoint(port)))
    return path


def start_foreground(
    procs: list[subprocess.Popen[str]],
    args: list[str],
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen[str]:
    """Start ``twistd -n ...`` in the background of the test; output is captured."""
    proc = subprocess.Popen(
        [str(TWISTD), "-n", *args],
        cwd=cwd,
        env=env or twistd_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        pass_fds=pass_fds,
    )
    procs.append(proc)
    return proc


def read_pid(path: Path) -> int:
    return int(path.read_text().strip())
