"""Privileged start then dropping root, for real (these tests need root, as CI has)."""

from __future__ import annotations

import os
import pwd
import signal
import socket
from pathlib import Path

import pytest

from twistd_test_support import (
    echo,
    process_gone,
    read_pid,
    run_twistd,
    wait_until,
    write_echo_app,
)

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


def _free_privileged_port() -> int:
    for candidate in range(1023, 600, -1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    pytest.fail("no free port below 1024 on 127.0.0.1")


def _ids(pid: int) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                found[key] = [int(v) for v in value.split()]
    return found


def _run_dir(tmp_path: Path) -> Path:
    # Writable by nobody, so the shutdown-time work (pid file removal) is possible after
    # dropping root, as it would be in a real /run/NAME folder owned by the service user.
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_dir.chmod(0o777)
    return run_dir


def test_bind_privileged_port_then_run_as_nobody(tmp_path: Path, daemons: list[int]) -> None:
    nobody = pwd.getpwnam("nobody")
    port = _free_privileged_port()
    run_dir = _run_dir(tmp_path)
    app = write_echo_app(tmp_path, port)
    result = run_twistd(["-y", str(app), "-d", str(run_dir), "-u", "nobody"], tmp_path)
    assert result.returncode == 0, result.stderr
    pid = read_pid(run_dir / "twistd.pid")
    daemons.append(pid)
    assert echo(port, b"low port") == b"low port"
    ids = _ids(pid)
    assert ids["Uid"] == [nobody.pw_uid] * 4
    assert ids["Gid"] == [nobody.pw_gid] * 4  # the user's primary group by default
    assert 0 not in ids["Groups"]  # root's supplementary groups were dropped too
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")
    assert not (run_dir / "twistd.pid").exists()


def test_numeric_ids_and_euid_mode(tmp_path: Path, daemons: list[int]) -> None:
    port = _free_privileged_port()
    run_dir = _run_dir(tmp_path)
    app = write_echo_app(tmp_path, port)
    args = ["-y", str(app), "-d", str(run_dir), "-u", "65534", "-g", "65534", "--euid"]
    result = run_twistd(args, tmp_path)
    assert result.returncode == 0, result.stderr
    pid = read_pid(run_dir / "twistd.pid")
    daemons.append(pid)
    assert echo(port) == b"ping"
    ids = _ids(pid)
    # --euid changes only the effective ids: real and saved stay root.
    assert ids["Uid"][:2] == [0, 65534]
    assert ids["Gid"][:2] == [0, 65534]
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")


def test_chroot(tmp_path: Path, port: int, daemons: list[int]) -> None:
    jail = tmp_path / "jail"
    jail.mkdir()
    app = write_echo_app(tmp_path, port)
    result = run_twistd(["-y", str(app), "--chroot", str(jail)], tmp_path)
    assert result.returncode == 0, result.stderr
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    assert echo(port) == b"ping"
    assert Path(f"/proc/{pid}/root").resolve() == jail.resolve()
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")
    # Removed through the folder opened before the chroot, although its path is outside.
    assert not (tmp_path / "twistd.pid").exists()


def test_unknown_user_and_group(tmp_path: Path, port: int) -> None:
    app = write_echo_app(tmp_path, port)
    result = run_twistd(["-y", str(app), "-u", "no-such-user-here"], tmp_path)
    assert result.returncode == 64
    assert result.stderr == "twistd: error: no such user: 'no-such-user-here'\n"
    result = run_twistd(["-y", str(app), "-g", "no-such-group-here"], tmp_path)
    assert result.returncode == 64
    assert result.stderr == "twistd: error: no such group: 'no-such-group-here'\n"


def test_application_uid_and_gid_are_the_default(tmp_path: Path, daemons: list[int]) -> None:
    port = _free_privileged_port()
    run_dir = _run_dir(tmp_path)
    app = tmp_path / "owned.py"
    app.write_text(
        "from appcore import Application, EchoFactory, StreamServerService\n"
        "application = Application('owned', uid=65534, gid=65534)\n"
        f"StreamServerService('tcp:{port}:interface=127.0.0.1', EchoFactory())"
        ".set_service_parent(application)\n"
    )
    result = run_twistd(["-y", str(app), "-d", str(run_dir)], tmp_path)
    assert result.returncode == 0, result.stderr
    pid = read_pid(run_dir / "twistd.pid")
    daemons.append(pid)
    assert echo(port) == b"ping"
    ids = _ids(pid)
    assert (ids["Uid"], ids["Gid"]) == ([65534] * 4, [65534] * 4)
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")
