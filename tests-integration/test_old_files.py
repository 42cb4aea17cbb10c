"""Application files written by earlier releases still load, convert and run.

``old-files/appcore-VERSION/`` holds files made by that release's mktap (every server type in
every format, and one three-service application encrypted in every format; see
make_old_files.py there). Classes move between releases: these files name the old import
paths, and the current tools must still read them (tapconvert) and bring them to life (twistd,
checked by a real client on the loopback port the file names).
"""

from __future__ import annotations

import ftplib
import os
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "old-files"
RELEASES = sorted(p for p in HERE.iterdir() if p.is_dir())
BASE = Path("/tmp/tap-old-files")  # the paths the files name (make_old_files.BASE)
PASSPHRASE = "old files passphrase"
# Below Linux's ephemeral range (32768-60999): a fixed port there can be taken by any
# outgoing connection's local end, and twistd then fails with 'address already in use'.
FIRST_PORT = 29411
TYPES = ["echo", "web", "ftp", "irc", "telnet", "ssh-manhole", "inetd", "portforward"]
PORTS = {name: FIRST_PORT + i for i, name in enumerate(TYPES)}
COMBINED = FIRST_PORT + 20
FLAGS = {"tap": "-f", "tax": "-x", "tas": "-s"}
HELLO = b"hello from an old file\n"


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def read_until(conn: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = conn.recv(4096)
        assert chunk, f"connection closed before {marker!r}; got {data[-200:]!r}"
        data += chunk
    return data


def echoes(port: int) -> None:
    with connect(port) as conn:
        conn.sendall(b"old\n")
        assert read_until(conn, b"\n") == b"old\n"


def serves_web(port: int) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=10) as answer:
        assert answer.read() == HELLO


def serves_ftp(port: int) -> None:
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", port, timeout=10)
        ftp.login()
        chunks: list[bytes] = []
        ftp.retrbinary("RETR hello.txt", chunks.append)
        assert b"".join(chunks) == HELLO


def welcomes_irc(port: int) -> None:
    with connect(port) as conn:
        conn.sendall(b"NICK old\r\nUSER old 0 * :Old File\r\n")
        assert b" 001 old " in read_until(conn, b" 001 ")


def logs_in_telnet(port: int) -> None:
    with connect(port) as conn:
        read_until(conn, b"Username: ")
        conn.sendall(b"admin\r\n")
        read_until(conn, b"Password: ")
        conn.sendall(b"secret\r\n")
        read_until(conn, b">>> ")
        conn.sendall(b"print(6 * 7)\r\n")
        read_until(conn, b"42")


def greets_ssh(port: int) -> None:
    with connect(port) as conn:
        assert read_until(conn, b"\n").startswith(b"SSH-2.0-")


CHECKS: dict[str, Callable[[int], None]] = {
    "echo": echoes,
    "web": serves_web,
    "ftp": serves_ftp,
    "irc": welcomes_irc,
    "telnet": logs_in_telnet,
    "ssh-manhole": greets_ssh,
    "inetd": echoes,
    "portforward": echoes,  # to the echo backend below, on the echo type's port
}


class EchoBackend:
    """A plain echo server on the port the portforward files forward to."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    def close(self) -> None:
        # shutdown wakes the accept() blocked in the thread, which close() alone does not:
        # the listening socket (and the port) would stay open for the next test.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@pytest.fixture(scope="module")
def tools(make_venv):  # type: ignore[no-untyped-def]
    return make_venv("mktap[all,encryption]", "tapconvert[encryption]", "twistd[all,encryption]")


@pytest.fixture(params=RELEASES, ids=[p.name for p in RELEASES])
def release(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """The release's files copied to a scratch folder; the paths they name recreated."""
    folder: Path = request.param
    shutil.rmtree(BASE, ignore_errors=True)
    (BASE / "site").mkdir(parents=True)
    (BASE / "site" / "hello.txt").write_bytes(HELLO)
    for support in (folder / "support").iterdir():
        shutil.copy(support, BASE / support.name)
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    (copy / "passphrase").write_text(PASSPHRASE + "\n")
    yield copy
    shutil.rmtree(BASE, ignore_errors=True)


def run_daemon(tools, app_file: Path, checks: list[tuple[Callable[[int], None], int]]) -> None:  # type: ignore[no-untyped-def]
    folder = app_file.parent
    ext = app_file.suffix.lstrip(".")
    pidfile = folder / "twistd.pid"
    command = [tools.bin("twistd"), FLAGS[ext.removeprefix("e")], app_file, "--pidfile",
               pidfile, "-l", folder / f"{app_file.name}.log", "-d", folder, "-o"]  # fmt: skip
    if ext.startswith("e"):
        command += ["-e", "--passphrase-file", folder / "passphrase"]
    started = tools.run(*command)
    assert started.returncode == 0, f"twistd {app_file.name}: {started.stderr}"
    pid = int(pidfile.read_text().split()[0])
    try:
        for check, port in checks:
            check(port)
    finally:
        os.kill(pid, 15)
        deadline = time.monotonic() + 20
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not pidfile.exists(), f"twistd {app_file.name} did not stop"


@pytest.mark.parametrize("ext", list(FLAGS))
@pytest.mark.parametrize("kind", TYPES)
def test_old_file_converts_and_runs(tools, release: Path, kind: str, ext: str) -> None:  # type: ignore[no-untyped-def]
    app_file = release / f"{kind}.{ext}"
    for target, suffix in (("pickle", "tap"), ("xml", "tax"), ("source", "tas")):
        converted = release / f"converted.{suffix}"
        out = tools.run(tools.bin("tapconvert"), "-i", app_file, "-o", converted, "-t", target)
        assert out.returncode == 0, f"tapconvert {app_file.name} -t {target}: {out.stderr}"
        assert converted.stat().st_size > 0
    backend = EchoBackend(PORTS["echo"]) if kind == "portforward" else None
    try:
        run_daemon(tools, app_file, [(CHECKS[kind], PORTS[kind])])
    finally:
        if backend is not None:
            backend.close()


@pytest.mark.parametrize("ext", list(FLAGS))
def test_old_encrypted_file_converts_and_runs(tools, release: Path, ext: str) -> None:  # type: ignore[no-untyped-def]
    app_file = release / f"combined.e{ext}"
    out = tools.run(tools.bin("tapconvert"), "-i", app_file, "-o", release / "plain.tax",
                    "-t", "xml", "-d", "--passphrase-file", release / "passphrase")  # fmt: skip
    assert out.returncode == 0, f"tapconvert {app_file.name}: {out.stderr}"
    text = (release / "plain.tax").read_text()
    assert "EchoFactory" in text
    assert "Site" in text
    run_daemon(tools, app_file, [(echoes, COMBINED), (serves_web, COMBINED + 1),
                                 (logs_in_telnet, COMBINED + 2)])  # fmt: skip
