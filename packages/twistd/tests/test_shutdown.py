"""Shutdown under pressure: slow stops, second signals, signals during the save, a read-only
folder."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from appcore import MultiService, Service
from twistd_test_support import (
    echo,
    endpoint,
    make_fixture_app,
    process_gone,
    read_pid,
    run_twistd,
    start_foreground,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)


def _save(app: Any, folder: Path) -> Path:
    from appcore import save_application

    return Path(save_application(app, directory=folder))


def _log_says(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text()


def test_slow_stop_is_awaited(tmp_path: Path, port: int, daemons: list[int]) -> None:
    app = make_fixture_app(listen=endpoint(port), stop_delay=1.0, name="slow")
    path = _save(app, tmp_path)
    assert run_twistd(["-f", str(path)], tmp_path).returncode == 0
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 15, "the daemon to exit")
    assert time.monotonic() - started >= 0.9  # the stop was awaited before exiting
    log = (tmp_path / "twistd.log").read_text()
    assert log.index("stopping on SIGTERM") < log.index("saved ") < log.index("slow stopped")
    assert (tmp_path / "slow-shutdown.tap").exists()


def _counter_starts(path: Path) -> int:
    from appcore import load_application

    counter: Any = load_application(path).get_service_named("counter")
    starts: int = counter.starts
    return starts


@pytest.mark.parametrize("gap_ms", [0, 2, 50])
def test_a_second_sigterm_never_loses_the_save(
    tmp_path: Path, port: int, daemons: list[int], gap_ms: int
) -> None:
    """Two SIGTERMs, as ``timeout`` or an impatient operator sends them: saved every time."""
    app = make_fixture_app(listen=endpoint(port), stop_delay=2.0, name="twice")
    path = _save(app, tmp_path)
    assert run_twistd(["-f", str(path)], tmp_path).returncode == 0
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    assert echo(port) == b"ping"
    os.kill(pid, signal.SIGTERM)
    time.sleep(gap_ms / 1000)
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 10, "the daemon to exit")
    # Saved from the live tree: it counted the start the input file knows nothing of.
    assert _counter_starts(tmp_path / "twice-shutdown.tap") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "twice-shutdown.tap",
        "twice.tap",
        "twistd.log",
    ]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_second_signal_cuts_the_stop_short_and_still_saves(
    tmp_path: Path, port: int, foreground: list[Any], loop: str
) -> None:
    app = make_fixture_app(listen=endpoint(port), stop_delay=30.0, name="stuck")
    path = _save(app, tmp_path)
    log = tmp_path / "run.log"
    args = ["-r", loop, "-f", str(path), "-l", str(log)]
    proc = start_foreground(foreground, args, tmp_path)
    wait_until(lambda: _log_says(log, "stuck started"), 10, "the start")
    assert echo(port) == b"ping"
    proc.send_signal(signal.SIGTERM)
    wait_until(lambda: _log_says(log, "stopping on SIGTERM"), 10, "the shutdown to begin")
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 143
    assert time.monotonic() - started < 5
    text = log.read_text()
    assert "second SIGINT: not waiting for the services to stop" in text
    assert text.index("second SIGINT") < text.index("saved ") < text.index("stuck stopped")
    assert _counter_starts(tmp_path / "stuck-shutdown.tap") == 1
    assert not (tmp_path / "twistd.pid").exists()


def test_signals_during_the_save_do_not_stop_it(
    tmp_path: Path, port: int, daemons: list[int]
) -> None:
    """Whenever more signals land, the new shutdown file is written, whole."""
    app = make_fixture_app(listen=endpoint(port), stop_delay=0.0, name="big")
    bulk = MultiService("bulk")
    for i in range(30_000):  # large enough that saving takes a while
        Service(f"s{i}").set_service_parent(bulk)
    bulk.set_service_parent(app)
    path = _save(app, tmp_path)
    previous = tmp_path / "big-shutdown.tap"
    previous.write_bytes(path.read_bytes())  # the shutdown file of an earlier run
    assert run_twistd(["-f", str(path)], tmp_path, timeout=60).returncode == 0
    pid = read_pid(tmp_path / "twistd.pid")
    daemons.append(pid)
    log = tmp_path / "twistd.log"
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: _log_says(log, "stopping on SIGTERM"), 20, "the shutdown to begin")
    for _ in range(3):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            break  # it finished first: the file must then be whole, checked below
        time.sleep(0.005)
    wait_until(lambda: process_gone(pid), 20, "the daemon to exit")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["big-shutdown.tap", "big.tap", "twistd.log"]
    from appcore import load_application

    reloaded = load_application(previous)  # the new file, whole
    assert _counter_starts(previous) == 1
    bulk_again = reloaded.get_service_named("bulk")
    assert isinstance(bulk_again, MultiService)
    assert len(bulk_again) == 30_000


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_shutdown_file_falls_back_to_the_run_directory(
    open_tmp_path: Path, port: int, daemons: list[int]
) -> None:
    tmp_path = open_tmp_path
    inputs = tmp_path / "in"
    inputs.mkdir(mode=0o755)  # root's: the daemon, once nobody, cannot write here
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_dir.chmod(0o777)
    app = make_fixture_app(listen=endpoint(port), stop_delay=0.0, name="moved")
    path = _save(app, inputs)
    path.chmod(0o644)
    result = run_twistd(["-f", str(path), "-d", str(run_dir), "-u", "nobody"], tmp_path)
    assert result.returncode == 0, result.stderr
    pid = read_pid(run_dir / "twistd.pid")
    daemons.append(pid)
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 15, "the daemon to exit")
    assert not (inputs / "moved-shutdown.tap").exists()
    assert (run_dir / "moved-shutdown.tap").exists()
    assert "cannot save the shutdown file in" in (run_dir / "twistd.log").read_text()
