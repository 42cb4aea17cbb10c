"""Files twistd writes: never through a link planted at their path, never more readable than
the application file they come from."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path
from typing import Any

import pytest

from twistd_test_support import (
    endpoint,
    make_fixture_app,
    process_gone,
    read_pid,
    run_twistd,
    wait_until,
    write_echo_app,
)

pytestmark = pytest.mark.timeout(60)


def _save(app: Any, folder: Path) -> Path:
    from appcore import save_application

    return Path(save_application(app, directory=folder))


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 15, "the daemon to exit")


def _kill_if_started(folder: Path, daemons: list[int]) -> None:
    """The old behaviour started a daemon: make sure the test cleans it up."""
    for name in ("twistd.pid", "victim"):
        try:
            daemons.append(read_pid(folder / name))
        except (OSError, ValueError):
            pass


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file some other user cares about."""
    path = tmp_path / "victim"
    path.write_text("precious\n")
    return path


def test_a_link_at_the_pid_file_path_is_refused(
    tmp_path: Path, port: int, victim: Path, daemons: list[int]
) -> None:
    (tmp_path / "twistd.pid").symlink_to(victim)
    result = run_twistd(["-y", str(write_echo_app(tmp_path, port))], tmp_path)
    _kill_if_started(tmp_path, daemons)
    assert result.returncode == 73, result.stderr
    assert result.stderr == (
        f"twistd: error: pid file {tmp_path / 'twistd.pid'} is a symbolic link: refusing to "
        "write through it (remove it, or choose another --pidfile)\n"
    )
    assert victim.read_text() == "precious\n"
    assert (tmp_path / "twistd.pid").is_symlink()


def test_a_fifo_at_the_pid_file_path_is_refused(
    tmp_path: Path, port: int, daemons: list[int]
) -> None:
    os.mkfifo(tmp_path / "twistd.pid")
    result = run_twistd(["-n", "-y", str(write_echo_app(tmp_path, port))], tmp_path, timeout=20)
    assert result.returncode == 73, result.stderr
    assert "is not a regular file: refusing to write through it" in result.stderr
    del daemons


def test_a_link_at_the_log_file_path_is_refused(
    tmp_path: Path, port: int, victim: Path, daemons: list[int]
) -> None:
    (tmp_path / "app.log").symlink_to(victim)
    result = run_twistd(["-y", str(write_echo_app(tmp_path, port)), "-l", "app.log"], tmp_path)
    _kill_if_started(tmp_path, daemons)
    assert result.returncode == 73, result.stderr
    assert result.stderr == (
        f"twistd: error: cannot open log file {tmp_path / 'app.log'}: it is a symbolic link "
        "(log files are not opened through links; give the real path)\n"
    )
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "twistd.pid").exists()


def test_a_link_at_the_shutdown_file_path_is_not_written_through(
    tmp_path: Path, port: int, victim: Path, daemons: list[int]
) -> None:
    app = make_fixture_app(listen=endpoint(port), stop_delay=0.0, name="linked")
    path = _save(app, tmp_path)
    (tmp_path / "linked-shutdown.tap").symlink_to(victim)
    assert run_twistd(["-f", str(path)], tmp_path).returncode == 0
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    _stop(pid)
    assert victim.read_text() == "precious\n"
    assert (tmp_path / "linked-shutdown.tap").is_symlink()
    assert "it is a symbolic link, not a regular file" in (tmp_path / "twistd.log").read_text()


@pytest.mark.parametrize("input_mode", [0o600, 0o640], ids=["0600", "0640"])
def test_outputs_are_never_more_readable_than_the_input(
    tmp_path: Path, port: int, daemons: list[int], input_mode: int
) -> None:
    app = make_fixture_app(listen=endpoint(port), stop_delay=0.0, name="secret")
    path = _save(app, tmp_path)
    path.chmod(input_mode)
    stale = tmp_path / "secret-shutdown.tap"  # an earlier run's, readable by all
    stale.write_bytes(b"")
    stale.chmod(0o644)
    args = ["-f", str(path), "--umask", "000", "-l", "app.log"]
    assert run_twistd(args, tmp_path).returncode == 0
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    assert _mode(tmp_path / "twistd.pid") == 0o644 & input_mode
    assert _mode(tmp_path / "app.log") == 0o666 & input_mode
    _stop(pid)
    assert _mode(stale) == 0o644 & input_mode
    assert stale.stat().st_size > 0


def test_python_file_mode_caps_the_pid_and_log_files(
    tmp_path: Path, port: int, daemons: list[int]
) -> None:
    app = write_echo_app(tmp_path, port)
    app.chmod(0o600)
    (tmp_path / "twistd.log").write_text("")
    (tmp_path / "twistd.log").chmod(0o644)  # an existing log is narrowed as well
    assert run_twistd(["-y", str(app), "--umask", "022"], tmp_path).returncode == 0
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    assert _mode(tmp_path / "twistd.pid") == 0o600
    assert _mode(tmp_path / "twistd.log") == 0o600
    _stop(pid)
