"""Logging of a real daemon: files, reopen for logrotate, size rotation, syslog, JSON lines."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import pytest

from twistd_test_support import (
    process_gone,
    read_pid,
    run_twistd,
    start_foreground,
    wait_until,
    write_echo_app,
)

pytestmark = pytest.mark.timeout(60)


def _stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGUSR1], ids=["SIGHUP", "SIGUSR1"])
def test_reopen_after_logrotate_renamed_the_file(
    tmp_path: Path, port: int, daemons: list[int], sig: signal.Signals
) -> None:
    app = write_echo_app(tmp_path, port)
    assert run_twistd(["-y", str(app), "-l", "app.log"], tmp_path).returncode == 0
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    log = tmp_path / "app.log"
    rotated = tmp_path / "app.log.1"
    os.rename(log, rotated)  # what logrotate does before signalling
    os.kill(pid, sig)
    wait_until(log.exists, 10, "a fresh log file")
    wait_until(lambda: "log files reopened" in log.read_text(), 10, "the reopen to be logged")
    _stop(pid)
    assert "started" in rotated.read_text()
    assert "reopened" not in rotated.read_text()
    assert "stopping on SIGTERM" in log.read_text()


def test_size_rotation(tmp_path: Path, port: int, daemons: list[int]) -> None:
    app = write_echo_app(tmp_path, port)
    args = ["-y", str(app), "-l", "app.log", "--log-rotate-length", "150"]
    assert run_twistd(args, tmp_path).returncode == 0
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    for _ in range(3):
        os.kill(pid, signal.SIGHUP)  # each reopen logs a line: enough to pass 150 bytes
    wait_until(lambda: (tmp_path / "app.log.1").exists(), 10, "a rotated log file")
    _stop(pid)
    assert (tmp_path / "app.log").stat().st_size <= 150


def test_syslog_through_a_real_socket(tmp_path: Path, port: int, daemons: list[int]) -> None:
    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(10)
    try:
        app = write_echo_app(tmp_path, port)
        args = ["-y", str(app), "--syslog", "--prefix", "myapp", "--syslog-socket", path]
        result = run_twistd(args, tmp_path)
        assert result.returncode == 0, result.stderr
        pid = read_pid(tmp_path / "twistd.pid")
        daemons.append(pid)
        first = server.recv(8192).decode()
        # facility daemon (3) * 8 + info (6) = 30; the pid is the daemon's
        assert first.startswith(f"<30>myapp[{pid}]: ")
        assert "started" in first
        _stop(pid)
        lines = [server.recv(8192).decode() for _ in range(2)]
        assert any("stopping on SIGTERM" in line for line in lines)
    finally:
        server.close()
    assert not (tmp_path / "twistd.log").exists()


def test_json_lines_on_stdout(
    tmp_path: Path,
    port: int,
    foreground: list,  # type: ignore[type-arg]
) -> None:
    app = write_echo_app(tmp_path, port)
    proc = start_foreground(foreground, ["-y", str(app), "--log-format", "json"], tmp_path)
    from twistd_test_support import wait_for_echo

    wait_for_echo(port)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["level"] for r in records] == ["INFO"] * len(records)
    assert any("started" in r["message"] for r in records)
    assert records[-1]["message"] == "echo stopped"


def test_journal_lines_when_stdout_is_the_journal(tmp_path: Path, port: int) -> None:
    import subprocess

    from twistd_test_support import TWISTD, twistd_env, wait_for_echo

    read_end, write_end = os.pipe()
    info = os.fstat(write_end)
    env = twistd_env(JOURNAL_STREAM=f"{info.st_dev}:{info.st_ino}")
    app = write_echo_app(tmp_path, port)
    with os.fdopen(read_end, "rb") as reader:
        proc = subprocess.Popen(
            [str(TWISTD), "-n", "--pidfile", "", "-y", str(app)],
            cwd=tmp_path,
            env=env,
            stdout=write_end,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_end)
        try:
            wait_for_echo(port)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        lines = reader.read().decode().splitlines()
    assert proc.returncode == 0
    # sd-daemon priority prefixes, no timestamp (journald adds its own)
    assert lines[0].startswith("<6>[appcore.twistd] echo started (pid ")
    assert lines[-1] == "<6>[appcore.twistd] echo stopped"


def test_profile_output(tmp_path: Path, port: int) -> None:
    import pstats
    import subprocess

    from twistd_test_support import TWISTD, twistd_env, wait_for_echo

    app = write_echo_app(tmp_path, port)
    for profiler in ("cprofile", "profile"):
        out = tmp_path / f"{profiler}.stats"
        args = ["-n", "--pidfile", "", "-p", str(out), "--profiler", profiler, "-y", str(app)]
        proc = subprocess.Popen(
            [str(TWISTD), *args],
            cwd=tmp_path,
            env=twistd_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_echo(port)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        stats = pstats.Stats(str(out))
        assert stats.total_calls > 0  # type: ignore[attr-defined]
