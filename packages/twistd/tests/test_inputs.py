"""Every kind of input serves a real request; loaded files come back as shutdown files."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from twistd_test_support import (
    echo,
    endpoint,
    make_fixture_app,
    process_gone,
    read_pid,
    run_twistd,
    start_foreground,
    wait_for_echo,
    wait_until,
    write_echo_app,
)

pytestmark = pytest.mark.timeout(60)

FORMATS = {"-f": ("pickle", "tap"), "-x": ("xml", "tax"), "-s": ("source", "tas")}


def fixture_app(port: int, name: str = "fixture", **options: Any) -> Any:
    values = {"listen": endpoint(port), "stop_delay": 0.0, "name": name, **options}
    return make_fixture_app(**values)


def save(app: Any, folder: Path, fmt: Any, passphrase: str | None = None) -> Path:
    from appcore import save_application

    return Path(save_application(app, format=fmt, directory=folder, passphrase=passphrase))


def _stop_daemon(folder: Path) -> None:
    pid = read_pid(folder / "twistd.pid")
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: process_gone(pid), 15, "the daemon to exit")


@pytest.mark.parametrize("flag", ["-f", "-x", "-s"])
def test_loaded_file_serves_and_comes_back(
    tmp_path: Path, port: int, daemons: list[int], flag: str
) -> None:
    fmt, ext = FORMATS[flag]
    inputs = tmp_path / "in"
    run_dir = tmp_path / "run"
    inputs.mkdir()
    run_dir.mkdir()
    original = fixture_app(port)
    path = save(original, inputs, fmt)
    assert path.name == f"fixture.{ext}"

    result = run_twistd([flag, str(path), "-d", str(run_dir)], tmp_path)
    assert result.returncode == 0, result.stderr
    pid = read_pid(run_dir / "twistd.pid")
    daemons.append(pid)
    assert echo(port, b"from a file") == b"from a file"
    _stop_daemon(run_dir)
    assert not (run_dir / "twistd.pid").exists()

    shutdown = inputs / f"fixture-shutdown.{ext}"  # next to the input, not in the run dir
    assert shutdown.exists()
    assert sorted(p.name for p in inputs.iterdir()) == [f"fixture-shutdown.{ext}", path.name]
    from appcore import load_application, structurally_equal

    before = load_application(path)
    after = load_application(shutdown)
    counter_before = before.get_service_named("counter")
    counter_after = after.get_service_named("counter")
    assert (counter_before.starts, counter_after.starts) == (0, 1)  # type: ignore[attr-defined]
    counter_after.starts = 0  # type: ignore[attr-defined]
    assert structurally_equal(after, before)  # nothing else changed

    # The shutdown file is a working application in its own right.
    result = run_twistd([flag, str(shutdown), "-d", str(run_dir), "-o"], tmp_path)
    assert result.returncode == 0, result.stderr
    daemons.append(read_pid(run_dir / "twistd.pid"))
    assert echo(port, b"again") == b"again"
    _stop_daemon(run_dir)


def test_encrypted_file(tmp_path: Path, port: int, daemons: list[int]) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple\n")
    path = save(fixture_app(port), tmp_path, "pickle", passphrase="correct horse battery staple")
    assert path.name == "fixture.etap"

    result = run_twistd(["-e", "--passphrase-file", str(secret), "-f", str(path)], tmp_path)
    assert result.returncode == 0, result.stderr
    daemons.append(read_pid(tmp_path / "twistd.pid"))
    assert echo(port, b"secret") == b"secret"
    _stop_daemon(tmp_path)

    shutdown = tmp_path / "fixture-shutdown.etap"
    from appcore import load_application

    app = load_application(shutdown, passphrase="correct horse battery staple")
    assert app.get_service_named("counter").starts == 1  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="passphrase"):
        load_application(shutdown)

    wrong = tmp_path / "wrong"
    wrong.write_text("not it\n")
    result = run_twistd(["-e", "--passphrase-file", str(wrong), "-f", str(path)], tmp_path)
    assert result.returncode != 0
    assert result.stderr.startswith("twistd: error: ")
    assert result.stderr.count("\n") == 1


def test_encrypted_without_a_passphrase(tmp_path: Path, port: int) -> None:
    path = save(fixture_app(port), tmp_path, "pickle", passphrase="pass phrase")
    no_terminal = run_twistd(["-e", "-f", str(path)], tmp_path)
    assert no_terminal.returncode == 64
    assert no_terminal.stderr == (
        "twistd: error: -e needs a passphrase: give --passphrase-file or run on a terminal\n"
    )
    no_flag = run_twistd(["-f", str(path)], tmp_path)
    assert no_flag.returncode == 64
    assert "passphrase" in no_flag.stderr
    assert no_flag.stderr.count("\n") == 1


def test_python_file_serves_and_is_never_saved(
    tmp_path: Path, port: int, foreground: list[Any]
) -> None:
    app = write_echo_app(tmp_path, port)
    proc = start_foreground(foreground, ["-y", str(app)], tmp_path)
    wait_for_echo(port)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["echo_app.py"]


def test_server_type_serves_and_is_never_saved(
    tmp_path: Path, port: int, foreground: list[Any]
) -> None:
    args = ["twistd-fixture", "--listen", endpoint(port), "--name", "plugged"]
    proc = start_foreground(foreground, args, tmp_path)
    wait_for_echo(port)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "plugged stopped" in out
    assert list(tmp_path.iterdir()) == []


def test_no_save(tmp_path: Path, port: int, daemons: list[int]) -> None:
    path = save(fixture_app(port), tmp_path, "pickle")
    result = run_twistd(["-o", "-f", str(path)], tmp_path)
    assert result.returncode == 0, result.stderr
    daemons.append(read_pid(tmp_path / "twistd.pid"))
    assert echo(port) == b"ping"
    _stop_daemon(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fixture.tap", "twistd.log"]


def test_bad_application_file(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tap"
    bogus.write_bytes(b"this is no pickle")
    result = run_twistd(["-f", str(bogus)], tmp_path)
    assert result.returncode == 65
    assert result.stderr.startswith("twistd: error: ")
    assert result.stderr.count("\n") == 1
    missing = run_twistd(["-f", str(tmp_path / "missing.tap")], tmp_path)
    assert missing.returncode == 66
    assert not (tmp_path / "twistd.pid").exists()
