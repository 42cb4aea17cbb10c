"""Fixtures for this server type's tests, on appcore's public testing helpers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from appcore import Application, Service
from appcore.testing import free_port as _free_port
from appcore.testing import round_trip as _round_trip
from appcore.testing import run_coroutine, self_signed_certificate


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


@pytest.fixture
def round_trip() -> Callable[[Service], list[Application]]:
    """Put a service in an Application and reload it from pickle, TAP, TAX and TAS."""
    return _round_trip


#: Starts ``twistd -n ftp --root ROOT ARGS...`` (installed beside this interpreter) listening
#: on 127.0.0.1; returns its port. The server is stopped at the end of the test.
StartFTP = Callable[..., int]


@pytest.fixture
def twistd_ftp(tmp_path: Path) -> Iterator[StartFTP]:
    """Run the installed ``twistd`` with the ftp type as a subprocess (see :data:`StartFTP`)."""
    twistd = Path(sys.executable).parent / "twistd"
    if not twistd.exists():
        pytest.fail("the twistd console script must be installed in this venv")
    processes: list[subprocess.Popen[bytes]] = []
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")}

    def start(root: Path, *args: str) -> int:
        port = _free_port()
        log = tmp_path / f"ftp-{len(processes)}.log"
        process = subprocess.Popen(
            [str(twistd), "-n", "--pidfile", "", "--logfile", str(log), "ftp",
             "--root", str(root), "--listen", f"tcp:{port}:interface=127.0.0.1", *args],
            cwd=tmp_path,
            env=env,
        )  # fmt: skip
        processes.append(process)
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, f"twistd exited {process.returncode}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return port
            except OSError:
                assert time.monotonic() < deadline, "twistd never listened"
                time.sleep(0.05)

    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
