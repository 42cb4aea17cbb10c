"""The cross-tool matrix: every server type x every format, as a user runs the tools.

For each server type and each source format (tap, tax, tas, and encrypted etap): ``mktap``
builds the application, ``tapconvert`` converts it to every other format, ``twistd`` runs
each result as a daemon and a real client checks the answer; SIGTERM leaves a shutdown file,
which runs again and answers again. All tools come from wheels in dist/, in one venv.
"""

from __future__ import annotations

import ftplib
import os
import pwd
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSPHRASE = "matrix passphrase"
FORMATS = {"tap": "pickle", "tax": "xml", "tas": "source"}
TWISTD_FLAG = {"tap": "-f", "tax": "-x", "tas": "-s"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def recv_until(conn: socket.socket, marker: bytes, limit: int = 1 << 16) -> bytes:
    data = b""
    while marker not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > limit:
            raise AssertionError(f"{marker!r} never came; got {data[-200:]!r}")
        data += chunk
    return data


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class Case:
    """How to make one server type with mktap, and how a real client checks it."""

    args: Callable[[Path, int], list[str]]
    check: Callable[[Path, int], None]


def echo_check(_: Path, port: int) -> None:
    with connect(port) as conn:
        conn.sendall(b"matrix\n")
        assert recv_until(conn, b"\n") == b"matrix\n"


def web_check(folder: Path, port: int) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=10) as response:
        assert response.status == 200
        assert response.read() == (folder / "site" / "hello.txt").read_bytes()


def ftp_check(folder: Path, port: int) -> None:
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", port, timeout=10)
        ftp.login()  # anonymous, read-only
        chunks: list[bytes] = []
        ftp.retrbinary("RETR hello.txt", chunks.append)
        assert b"".join(chunks) == (folder / "site" / "hello.txt").read_bytes()
        with pytest.raises(ftplib.error_perm):
            ftp.storbinary("STOR new.txt", iter_bytes(b"no"))


def iter_bytes(data: bytes) -> object:
    import io

    return io.BytesIO(data)


def irc_check(_: Path, port: int) -> None:
    """A real IRC client library (jaraco's irc) registers, joins a channel and talks."""
    import irc.client

    reactor = irc.client.Reactor()
    seen: dict[str, list[object]] = {"welcome": [], "join": [], "topic": []}
    for kind, events in seen.items():
        reactor.add_global_handler(kind, lambda _c, event, events=events: events.append(event))

    def wait_for(kind: str) -> None:
        deadline = time.monotonic() + 10
        while not seen[kind]:
            assert time.monotonic() < deadline, f"no {kind} from the IRC server"
            reactor.process_once(0.1)

    conn = reactor.server().connect("127.0.0.1", port, "matrix")
    try:
        wait_for("welcome")
        conn.join("#matrix")
        wait_for("join")
        conn.topic("#matrix", "set by the matrix")
        wait_for("topic")
        conn.quit("bye")
    finally:
        conn.close()


def telnet_check(_: Path, port: int) -> None:
    with connect(port) as conn:
        recv_until(conn, b"Username: ")
        conn.sendall(b"admin\r\n")
        recv_until(conn, b"Password: ")
        conn.sendall(b"secret\r\n")
        recv_until(conn, b">>> ")
        conn.sendall(b"print(6 * 7, app.name)\r\n")
        assert b"42" in recv_until(conn, b"42")


def inetd_check(_: Path, port: int) -> None:
    echo_check(_, port)


class EchoBackend:
    """A plain echo server in the test process: the far side of the port forwarder."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def backend() -> Iterator[EchoBackend]:
    server = EchoBackend()
    yield server
    server.close()


def make_cases(backend: EchoBackend) -> dict[str, Case]:
    user = pwd.getpwuid(os.getuid()).pw_name

    def inetd_args(folder: Path, port: int) -> list[str]:
        conf = folder / "inetd.conf"
        conf.write_text(f"{port} stream tcp nowait {user} internal echo\n")
        return ["inetd", "--file", str(conf), "--interface", "127.0.0.1"]

    return {
        "echo": Case(lambda f, p: ["echo", "--listen", f"tcp:{p}:interface=127.0.0.1"], echo_check),
        "web": Case(
            lambda f, p: [
                "web",
                "--path",
                str(f / "site"),
                "--listen",
                f"tcp:{p}:interface=127.0.0.1",
            ],  # fmt: skip
            web_check,
        ),
        "ftp": Case(
            lambda f, p: [
                "ftp",
                "--root",
                str(f / "site"),
                "--listen",
                f"tcp:{p}:interface=127.0.0.1",
            ],  # fmt: skip
            ftp_check,
        ),
        "irc": Case(lambda f, p: ["irc", "--listen", f"tcp:{p}:interface=127.0.0.1"], irc_check),
        "telnet": Case(
            lambda f, p: ["telnet", "--listen", f"tcp:{p}", "--passwords", str(f / "passwd")],
            telnet_check,
        ),
        "inetd": Case(inetd_args, inetd_check),
        "portforward": Case(
            lambda f, p: [
                "portforward",
                "--listen",
                f"tcp:{p}:interface=127.0.0.1",
                "--dest",
                f"tcp:host=127.0.0.1:port={backend.port}",
            ],  # fmt: skip
            echo_check,
        ),
    }


TYPES = ["echo", "web", "ftp", "irc", "telnet", "inetd", "portforward"]
SOURCES = ["tap", "tax", "tas", "etap"]


@pytest.fixture(scope="module")
def tools(make_venv):  # type: ignore[no-untyped-def]
    return make_venv("mktap[all,encryption]", "tapconvert[encryption]", "twistd[all,encryption]")


def run_daemon(tools, folder: Path, app_file: Path, check: Callable[[Path, int], None],
               port: int, *, save: bool) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    ext = app_file.suffix.lstrip(".")
    encrypted = ext.startswith("e")
    flag = TWISTD_FLAG[ext.removeprefix("e")]
    pidfile = folder / "twistd.pid"
    command = [tools.bin("twistd"), flag, app_file, "--pidfile", pidfile,
               "-l", folder / f"{app_file.name}.log", "-d", folder]  # fmt: skip
    if encrypted:
        command += ["-e", "--passphrase-file", folder / "passphrase"]
    if not save:
        command.append("-o")
    started = tools.run(*command)
    assert started.returncode == 0, f"twistd {app_file.name}: {started.stderr}"
    pid = int(pidfile.read_text().split()[0])
    try:
        check(folder, port)
    finally:
        os.kill(pid, 15)
        deadline = time.monotonic() + 20
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not pidfile.exists(), f"twistd {app_file.name} did not stop"


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("kind", TYPES)
def test_matrix(tools, backend: EchoBackend, tmp_path: Path, kind: str, source: str) -> None:  # type: ignore[no-untyped-def]
    case = make_cases(backend)[kind]
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.txt").write_bytes(b"hello from the matrix\n" * 100)
    line = tools.run(tools.python, "-c",
                     "from appcore._passwords import password_line; "
                     "print(password_line('admin', 'secret'))")  # fmt: skip
    (tmp_path / "passwd").write_text(line.stdout)
    (tmp_path / "passphrase").write_text(PASSPHRASE + "\n")
    env = {**os.environ, "MKTAP_PASSPHRASE": PASSPHRASE, "TAPCONVERT_PASSPHRASE": PASSPHRASE}
    port = free_port()

    encrypted = source.startswith("e")
    plain = source.removeprefix("e")
    made_file = tmp_path / f"{kind}.{source}"
    command = [tools.bin("mktap"), "-t", FORMATS[plain], "-o", made_file]
    if encrypted:
        command.append("-e")
    made = subprocess.run([str(c) for c in [*command, *case.args(tmp_path, port)]],
                          capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120, check=False)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made_file.exists()

    files = [made_file]
    for target in FORMATS:
        if target == source:
            continue
        out = tmp_path / f"{kind}-as-{target}.{target}"
        convert = [tools.bin("tapconvert"), "-i", made_file, "-o", out, "-t", FORMATS[target]]
        if encrypted:
            convert.append("-d")
        done = subprocess.run([str(c) for c in convert], capture_output=True, text=True,
                              env=env, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        files.append(out)

    for app_file in files:
        run_daemon(tools, tmp_path, app_file, case.check, port, save=True)
        ext = app_file.suffix
        shutdown = app_file.with_name(f"{kind}-shutdown{ext}")
        assert shutdown.exists(), f"no shutdown file after {app_file.name}"
        run_daemon(tools, tmp_path, shutdown, case.check, port, save=False)
        shutdown.unlink()
