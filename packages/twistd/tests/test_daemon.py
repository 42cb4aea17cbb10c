"""Daemonizing for real: readiness, the pid file, signals, and failures reported to the caller."""

from __future__ import annotations

import os
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

pytestmark = pytest.mark.timeout(60)


def test_daemon_start_returns_once_serving(tmp_path: Path, port: int, daemons: list[int]) -> None:
    app = write_echo_app(tmp_path, port)
    result = run_twistd(["-y", str(app)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    # No retry: the parent returned only after every service had started.
    assert echo(port, b"ready at once", timeout=5) == b"ready at once"
    # The pid file names the daemon itself: a session leader's child, detached from us.
    assert not process_gone(pid)
    assert os.getsid(pid) != os.getsid(0)
    assert Path(f"/proc/{pid}/cwd").resolve() == tmp_path.resolve()
    # stdin of a daemon is /dev/null; stdout and stderr are its own pipes to the log,
    # never ours.
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    for fd in (1, 2):
        assert os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:")

    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")
    assert not (tmp_path / "twistd.pid").exists()
    log = (tmp_path / "twistd.log").read_text()
    assert "started" in log
    assert "stopping on SIGTERM" in log
    with pytest.raises(OSError):
        echo(port, timeout=1)


def test_default_umask_and_rundir(tmp_path: Path, port: int, daemons: list[int]) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    app = write_echo_app(tmp_path, port)
    result = run_twistd(["-y", str(app), "-d", str(run_dir), "--umask", "027"], tmp_path)
    assert result.returncode == 0, result.stderr
    pid = read_pid(run_dir / "twistd.pid")
    daemons.append(pid)
    with open(f"/proc/{pid}/status") as status:
        umask_line = next(line for line in status if line.startswith("Umask:"))
    assert umask_line.split()[1] == "0027"
    assert (run_dir / "twistd.log").exists()
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")


def test_port_in_use_fails_the_starting_process(tmp_path: Path, port: int) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        app = write_echo_app(tmp_path, port)
        result = run_twistd(["-y", str(app)], tmp_path)
    assert result.returncode == 69
    assert (
        result.stderr == f"twistd: error: tcp:{port}:interface=127.0.0.1: address already in use\n"
    )
    # The daemon cleaned up after itself: no pid file, and the log says why.
    assert not (tmp_path / "twistd.pid").exists()
    assert "address already in use" in (tmp_path / "twistd.log").read_text()


def test_bad_python_file_fails_before_daemonizing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\nraise RuntimeError('boom')\n")
    result = run_twistd(["-y", str(bad)], tmp_path)
    assert result.returncode == 65
    assert result.stderr == f"twistd: error: {bad}, line 2: RuntimeError: boom\n"
    missing = run_twistd(["-y", str(tmp_path / "nope.py")], tmp_path)
    assert missing.returncode == 66
    assert missing.stderr.count("\n") == 1
    no_app = tmp_path / "noapp.py"
    no_app.write_text("value = 3\n")
    result = run_twistd(["-y", str(no_app)], tmp_path)
    assert result.returncode == 65
    assert "defines no variable named 'application'" in result.stderr
    assert not (tmp_path / "twistd.pid").exists()


def test_second_instance_on_one_pidfile_is_refused(
    tmp_path: Path, port: int, daemons: list[int]
) -> None:
    app = write_echo_app(tmp_path, port)
    assert run_twistd(["-y", str(app)], tmp_path).returncode == 0
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    other = write_echo_app(tmp_path, port + 1 if port < 65535 else port - 1, name="other")
    second = run_twistd(["-y", str(other)], tmp_path)
    assert second.returncode == 69
    assert second.stderr == (
        f"twistd: error: another twistd (pid {pid}) is running with pid file "
        f"{tmp_path / 'twistd.pid'}\n"
    )
    # The refused instance touched neither the pid file nor the running daemon.
    assert read_pid(tmp_path / "twistd.pid") == pid
    assert echo(port) == b"ping"
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")


def test_stale_pidfile_is_taken_over(tmp_path: Path, port: int, daemons: list[int]) -> None:
    # A pid file left by a process that died without cleaning up: pid 1 is alive but
    # holds no lock on it, which is exactly the pid-reuse case a liveness check gets wrong.
    (tmp_path / "twistd.pid").write_text("1\n")
    app = write_echo_app(tmp_path, port)
    result = run_twistd(["-y", str(app)], tmp_path)
    assert result.returncode == 0, result.stderr
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    assert pid != 1
    assert echo(port) == b"ping"
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")
    assert not (tmp_path / "twistd.pid").exists()


def test_empty_pidfile_option_disables_it(tmp_path: Path, port: int, daemons: list[int]) -> None:
    app = write_echo_app(tmp_path, port)
    result = run_twistd(["-y", str(app), "--pidfile", "", "-l", "app.log"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "twistd.pid").exists()
    log = (tmp_path / "app.log").read_text()
    pid = int(log.split("(pid ")[1].split(")")[0])
    daemons.append(pid)
    assert echo(port) == b"ping"
    os.kill(pid, signal.SIGINT)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")
    assert "stopping on SIGINT" in (tmp_path / "app.log").read_text()


@pytest.mark.parametrize("loop", ["uvloop", "select"])
def test_reactor_choice(tmp_path: Path, port: int, daemons: list[int], loop: str) -> None:
    from appcore import available_loops

    if loop not in available_loops():
        pytest.fail(f"{loop} should be installed in the dev venv")
    app = write_echo_app(tmp_path, port)
    result = run_twistd(["-r", loop, "-y", str(app)], tmp_path)
    assert result.returncode == 0, result.stderr
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    assert echo(port) == b"ping"
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")
    assert f"on the {loop} loop" in (tmp_path / "twistd.log").read_text()


def test_unknown_reactor(tmp_path: Path, port: int) -> None:
    app = write_echo_app(tmp_path, port)
    result = run_twistd(["-r", "twisted", "-y", str(app)], tmp_path)
    assert result.returncode == 69
    assert result.stderr.startswith("twistd: error: unknown event loop 'twisted'; available: ")
    assert not (tmp_path / "twistd.pid").exists()
