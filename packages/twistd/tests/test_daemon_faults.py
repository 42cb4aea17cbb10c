"""A daemon's loose ends: what it prints, logging to a stdout it lacks, a starting process
killed before the start-up was over."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from twistd_test_support import (
    TWISTD,
    echo,
    endpoint,
    make_fixture_app,
    process_gone,
    read_pid,
    run_twistd,
    twistd_env,
    wait_for_echo,
    wait_until,
    write_echo_app,
)

pytestmark = pytest.mark.timeout(60)

NOISY_APP = """\
import os, subprocess, sys, threading, warnings
from appcore import Application, Service

class Noisy(Service):
    def start_service(self):
        print("printed to stdout")
        sys.stderr.write("written to stderr\\n")
        os.write(1, b"written to fd 1 at the C level\\n")
        subprocess.run(["sh", "-c", "echo from a child process"], check=True)
        warnings.warn("mind the gap", UserWarning)
        def crash():
            raise RuntimeError("a thread died")
        thread = threading.Thread(target=crash, name="doomed")
        thread.start()
        thread.join()
        return super().start_service()

application = Application("noisy")
Noisy("noisy").set_service_parent(application)
"""


def test_what_a_daemon_prints_goes_to_its_log(tmp_path: Path, daemons: list[int]) -> None:
    app = tmp_path / "noisy.py"
    app.write_text(NOISY_APP)
    result = run_twistd(["-y", str(app)], tmp_path)
    assert result.returncode == 0, result.stderr
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")
    log = (tmp_path / "twistd.log").read_text()
    for expected in (
        "[appcore.twistd.stdout] INFO: printed to stdout",
        "[appcore.twistd.stderr] ERROR: written to stderr",
        "[appcore.twistd.stdout] INFO: written to fd 1 at the C level",
        "[appcore.twistd.stdout] INFO: from a child process",
        "[py.warnings] WARNING: ",
        "UserWarning: mind the gap",
        "[appcore.twistd] ERROR: uncaught exception in thread doomed",
        "RuntimeError: a thread died",
    ):
        assert expected in log, f"{expected!r} missing from the log:\n{log}"


def test_logging_to_stdout_as_a_daemon_is_refused(
    tmp_path: Path, port: int, daemons: list[int]
) -> None:
    result = run_twistd(["-y", str(write_echo_app(tmp_path, port)), "-l", "-"], tmp_path)
    if (tmp_path / "twistd.pid").exists():  # the old behaviour: a daemon logging nowhere
        daemons.append(read_pid(tmp_path / "twistd.pid"))
    assert result.returncode == 64
    assert result.stderr == (
        "twistd: error: -l - logs to stdout, which a daemon does not have: add -n\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["echo_app.py"]


# SIGTERM kills the starting process outright; SIGINT unwinds it as KeyboardInterrupt.
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_daemon_whose_starter_is_killed_during_start_up_stops(
    tmp_path: Path, port: int, daemons: list[int], sig: signal.Signals
) -> None:
    app = make_fixture_app(listen=endpoint(port), stop_delay=0.0, start_delay=3.0, name="slow")
    from appcore import save_application

    path = save_application(app, directory=tmp_path)
    starter = subprocess.Popen(
        [str(TWISTD), "-f", str(path)],
        cwd=tmp_path,
        env=twistd_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pid_file = tmp_path / "twistd.pid"
        # The pid file exists once the daemon is forked, long before its slow start ends.
        wait_until(pid_file.exists, 10, "the daemon's pid file")
        pid = read_pid(pid_file)
        daemons.append(pid)
        wait_for_echo(port)  # serving already: the counter's slow start comes after
        starter.send_signal(sig)
        assert starter.wait(10) != 0
    finally:
        if starter.poll() is None:
            starter.kill()
        starter.communicate(timeout=10)
    wait_until(lambda: process_gone(pid), 10, "the abandoned daemon to stop")
    log = (tmp_path / "twistd.log").read_text()
    assert "the starting process exited before it saw the start-up succeed: stopping" in log
    with pytest.raises(OSError):
        echo(port, timeout=1)
