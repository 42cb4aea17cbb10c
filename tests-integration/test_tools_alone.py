"""Each tool installs alone from dist/ and works from its console script."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

TOOLS = {"mktap", "tapconvert", "twistd", "tap2deb", "tap2rpm"}

MAKE_APP = """
import sys
from appcore import Application, EchoFactory, StreamServerService, save_application
app = Application("echoapp")
endpoint = f"tcp:{sys.argv[1]}:interface=127.0.0.1"
StreamServerService(endpoint, EchoFactory(), name="echo").set_service_parent(app)
print(save_application(app, sys.argv[2], format=sys.argv[3]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def echo_round_trip(port: int, payload: bytes = b"ping\n", timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(payload)
                return conn.recv(1024)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize("tool", ["tapconvert", "twistd"])
def test_a_tool_alone_pulls_no_other_tool(make_venv, tool: str) -> None:
    env = make_venv(tool)
    installed = env.installed()
    assert tool in installed
    assert "appcore" in installed
    assert not (installed & TOOLS) - {tool}, sorted(installed & TOOLS)
    # no server type's library either: those come with the server types' distributions
    assert not installed & {"httptools", "aioftp", "asyncssh"}, sorted(installed)
    # nor full typer's tree, nor cryptography (appcore's encryption extra)
    assert not installed & {"rich", "pygments", "pydantic", "cryptography"}, sorted(installed)
    assert not {name for name in installed if name.startswith("appcore-")}, sorted(installed)
    done = env.run(env.bin(tool), "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{tool} ")


def test_tapconvert_converts_every_format(make_venv, tmp_path: Path) -> None:
    env = make_venv("tapconvert")
    made = env.run(env.python, "-c", MAKE_APP, "8007", tmp_path / "echoapp.tap", "pickle")
    assert made.returncode == 0, made.stderr
    chain = [("echoapp.tap", "xml", "echoapp.tax"), ("echoapp.tax", "source", "echoapp.tas"),
             ("echoapp.tas", "pickle", "back.tap")]  # fmt: skip
    for source, kind, target in chain:
        done = env.run(env.bin("tapconvert"), "-i", tmp_path / source, "-o", tmp_path / target,
                       "-t", kind)  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert "tcp:8007:interface=127.0.0.1" in (tmp_path / "echoapp.tax").read_text()
    bad = env.run(env.bin("tapconvert"), "-i", tmp_path / "missing.tap", "-o", tmp_path / "x.tas")
    assert bad.returncode == 66
    assert bad.stderr.count("\n") == 1
    assert not (tmp_path / "x.tas").exists()


@pytest.mark.parametrize(("fmt", "flag", "ext"), [("pickle", "-f", "tap"), ("xml", "-x", "tax"),
                                                  ("source", "-s", "tas")])  # fmt: skip
def test_twistd_daemon_serves_and_saves_on_sigterm(
    make_venv, tmp_path: Path, fmt: str, flag: str, ext: str
) -> None:
    env = make_venv("twistd")
    port = free_port()
    app_file = tmp_path / f"echoapp.{ext}"
    made = env.run(env.python, "-c", MAKE_APP, str(port), app_file, fmt)
    assert made.returncode == 0, made.stderr
    pidfile = tmp_path / "twistd.pid"
    started = env.run(env.bin("twistd"), flag, app_file, "--pidfile", pidfile,
                      "-l", tmp_path / "twistd.log", "-d", tmp_path)  # fmt: skip
    assert started.returncode == 0, started.stderr
    pid = int(pidfile.read_text().split()[0])
    try:
        assert echo_round_trip(port) == b"ping\n"
    finally:
        subprocess.run(["kill", "-TERM", str(pid)], check=False)
    deadline = time.monotonic() + 15
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pidfile.exists()
    shutdown = tmp_path / f"echoapp-shutdown.{ext}"
    assert shutdown.exists()
    # The shutdown file runs again.
    again = env.run(env.bin("twistd"), flag, shutdown, "--pidfile", pidfile,
                    "-l", tmp_path / "again.log", "-d", tmp_path, "-o")  # fmt: skip
    assert again.returncode == 0, again.stderr
    pid = int(pidfile.read_text().split()[0])
    try:
        assert echo_round_trip(port, b"again\n") == b"again\n"
    finally:
        subprocess.run(["kill", "-TERM", str(pid)], check=False)
        deadline = time.monotonic() + 15
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def test_twistd_refuses_a_port_in_use(make_venv, tmp_path: Path) -> None:
    env = make_venv("twistd")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        app_file = tmp_path / "busy.tap"
        assert env.run(env.python, "-c", MAKE_APP, str(port), app_file, "pickle").returncode == 0
        done = env.run(env.bin("twistd"), "-f", app_file, "--pidfile", tmp_path / "p.pid",
                       "-l", tmp_path / "log", "-d", tmp_path)  # fmt: skip
    assert done.returncode == 69, (done.returncode, done.stderr)
    assert "in use" in done.stderr
    assert done.stderr.count("\n") == 1


def test_tapconvert_alone_names_the_extra_for_encrypted_files(make_venv, tmp_path: Path) -> None:
    """cryptography is appcore's encryption extra: a plain install has no OpenSSL of its own."""
    env = make_venv("tapconvert")
    assert "cryptography" not in env.installed()
    old = Path(__file__).parent / "old-files" / "appcore-0.1.0.dev0" / "combined.etap"
    (tmp_path / "passphrase").write_text("old files passphrase\n")
    done = env.run(env.bin("tapconvert"), "-i", old, "-o", tmp_path / "out.tax", "-t", "xml",
                   "-d", "--passphrase-file", tmp_path / "passphrase")  # fmt: skip
    assert done.returncode == 69, done.stderr
    assert "pip install 'appcore[encryption]'" in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "out.tax").exists()
