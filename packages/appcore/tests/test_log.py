"""Logging observers against real files, a real syslog datagram socket, and real stdout."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from appcore import (
    CantCreateError,
    FileObserver,
    JsonFormatter,
    SyslogObserver,
    UnavailableError,
    UsageError,
    configure_logging,
    get_logger,
    reopen_logs,
)
from appcore._log import reset_logging

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A fresh child of the project logger, detached from whatever configure_logging did."""
    log = get_logger(f"test.{request.node.name}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    for observer in list(log.handlers):
        log.removeHandler(observer)
        observer.close()
    reset_logging()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_get_logger_names_children_of_the_project_logger() -> None:
    assert get_logger().name == "appcore"
    assert get_logger("twistd").name == "appcore.twistd"
    assert get_logger("appcore.web").name == "appcore.web"


def test_file_reopen_after_rename_opens_a_fresh_file(
    tmp_path: Path, logger: logging.Logger
) -> None:
    path = tmp_path / "twistd.log"
    observer = FileObserver(path)
    logger.addHandler(observer)
    logger.info("before rotation")
    os.rename(path, tmp_path / "twistd.log.old")  # what logrotate does
    logger.info("still into the renamed file")
    assert not path.exists()
    reopen_logs()
    logger.warning("after reopen")
    assert [line.split(" ", 1)[1] for line in lines(tmp_path / "twistd.log.old")] == [
        f"[{logger.name}] INFO: before rotation",
        f"[{logger.name}] INFO: still into the renamed file",
    ]
    (fresh,) = lines(path)
    assert fresh.endswith(f"[{logger.name}] WARNING: after reopen")
    # Text lines start with a local ISO 8601 time carrying its UTC offset.
    stamp = dt.datetime.strptime(fresh.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S%z")
    assert abs(stamp.timestamp() - dt.datetime.now().timestamp()) < 60


def test_size_rotation_keeps_numbered_files(tmp_path: Path, logger: logging.Logger) -> None:
    path = tmp_path / "app.log"
    observer = FileObserver(path, rotate_length=300, max_rotated_files=2)
    observer.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(observer)
    for n in range(40):
        logger.info("record %02d %s", n, "x" * 40)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.log", "app.log.1", "app.log.2"]
    for name in ("app.log", "app.log.1", "app.log.2"):
        assert 0 < (tmp_path / name).stat().st_size <= 300
    numbers = [
        [int(line.split()[1]) for line in lines(tmp_path / name)]
        for name in ("app.log.2", "app.log.1", "app.log")
    ]
    flat = [n for chunk in numbers for n in chunk]
    assert flat == list(range(flat[0], 40))  # oldest to newest, nothing lost in between


def test_size_rotation_without_limit_keeps_everything(
    tmp_path: Path, logger: logging.Logger
) -> None:
    path = tmp_path / "app.log"
    observer = FileObserver(path, rotate_length=100)
    observer.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(observer)
    for n in range(10):
        logger.info("%d %s", n, "y" * 60)
    assert len(list(tmp_path.iterdir())) == 10
    assert lines(tmp_path / "app.log.9")[0].startswith("0 ")
    assert lines(path)[0].startswith("9 ")


def test_daily_rotation_moves_yesterdays_file_aside(tmp_path: Path, logger: logging.Logger) -> None:
    path = tmp_path / "daily.log"
    path.write_text("from an earlier day\n")
    earlier = dt.datetime.now() - dt.timedelta(days=2)
    os.utime(path, (earlier.timestamp(), earlier.timestamp()))
    observer = FileObserver(path, daily=True)
    logger.addHandler(observer)
    logger.info("today")
    aside = tmp_path / f"daily.log.{earlier.date().isoformat()}"
    assert lines(aside) == ["from an earlier day"]
    (today,) = lines(path)
    assert today.endswith("INFO: today")


def test_daily_rotation_prunes_and_skips_empty_files(
    tmp_path: Path, logger: logging.Logger
) -> None:
    path = tmp_path / "daily.log"
    for day in ("2020-01-01", "2020-01-02", "2020-01-03"):
        (tmp_path / f"daily.log.{day}").write_text(f"{day}\n")
    path.write_text("yesterday\n")
    yesterday = dt.datetime.now() - dt.timedelta(days=1)
    os.utime(path, (yesterday.timestamp(), yesterday.timestamp()))
    logger.addHandler(FileObserver(path, daily=True, max_rotated_files=2))
    logger.info("today")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "daily.log",
        "daily.log.2020-01-03",
        f"daily.log.{yesterday.date().isoformat()}",
    ]
    # An empty file left from an earlier day is simply written to, not set aside.
    empty = tmp_path / "empty.log"
    empty.touch()
    os.utime(empty, (yesterday.timestamp(), yesterday.timestamp()))
    logger.addHandler(FileObserver(empty, daily=True))
    logger.info("more")
    assert not list(tmp_path.glob("empty.log.*"))
    assert lines(empty)[0].endswith("INFO: more")


def test_file_observer_bad_input(tmp_path: Path) -> None:
    with pytest.raises(CantCreateError, match="cannot open log file") as caught:
        FileObserver(tmp_path / "missing" / "x.log")
    assert caught.value.exit_code == 73
    with pytest.raises(UsageError, match="rotate length"):
        FileObserver(tmp_path / "x.log", rotate_length=0)


@pytest.fixture
def syslog_socket() -> Iterator[tuple[socket.socket, str]]:
    """A syslog daemon's receiving end: our own unix datagram socket (short path)."""
    with tempfile.TemporaryDirectory(prefix="sl") as folder:
        address = os.path.join(folder, "log")
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(address)
        receiver.settimeout(5)
        yield receiver, address
        receiver.close()


def test_syslog_line_format(
    syslog_socket: tuple[socket.socket, str], logger: logging.Logger
) -> None:
    receiver, address = syslog_socket
    logger.addHandler(SyslogObserver("mytap", facility="local0", address=address))
    logger.warning("disk %s full", "/var")
    logger.debug("details")
    assert receiver.recv(65536).decode() == f"<132>mytap[{os.getpid()}]: disk /var full"
    assert receiver.recv(65536).decode() == f"<135>mytap[{os.getpid()}]: details"
    try:
        raise ValueError("bad thing")
    except ValueError:
        logger.exception("failed")
    received: list[str] = []
    while not received or not received[-1].endswith("ValueError: bad thing"):
        received.append(receiver.recv(65536).decode())
    head = f"<131>mytap[{os.getpid()}]: "
    assert all(line.startswith(head) for line in received)
    assert received[0] == head + "failed"
    assert received[1] == head + "Traceback (most recent call last):"


def test_syslog_reconnects_after_daemon_restart(
    syslog_socket: tuple[socket.socket, str], logger: logging.Logger
) -> None:
    receiver, address = syslog_socket
    logger.addHandler(SyslogObserver("tap", facility="daemon", address=address))
    logger.info("one")
    assert receiver.recv(1024) == f"<30>tap[{os.getpid()}]: one".encode()
    receiver.close()
    os.unlink(address)
    restarted = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    restarted.bind(address)
    restarted.settimeout(5)
    try:
        logger.info("two")
        assert restarted.recv(1024) == f"<30>tap[{os.getpid()}]: two".encode()
    finally:
        restarted.close()


def test_syslog_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UnavailableError, match="cannot reach syslog at") as caught:
        SyslogObserver(address=str(tmp_path / "nothing"))
    assert caught.value.exit_code == 69
    with pytest.raises(UsageError, match="unknown syslog facility 'locl0'"):
        SyslogObserver(facility="locl0", address=str(tmp_path / "nothing"))


def test_json_lines_parse(tmp_path: Path, logger: logging.Logger) -> None:
    path = tmp_path / "app.jsonl"
    configure_logging(logfile=path, json_lines=True, logger_name=logger.name, level="debug")
    logger.info("served %d bytes", 512, extra={"client": "127.0.0.1", "path": Path("/x")})
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logger.error('oops "quoted"\nsecond line', exc_info=True)
    first, second = (json.loads(line) for line in lines(path))
    assert first["message"] == "served 512 bytes"
    assert (first["level"], first["logger"]) == ("INFO", logger.name)
    assert (first["client"], first["path"]) == ("127.0.0.1", "/x")
    assert first["time"].endswith("Z")
    when = dt.datetime.fromisoformat(first["time"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - when).total_seconds()) < 60
    assert second["message"] == 'oops "quoted"\nsecond line'
    assert second["exception"].endswith("ZeroDivisionError: division by zero")
    assert set(first) == {"time", "level", "logger", "message", "client", "path"}
    assert JsonFormatter().format(logging.makeLogRecord({"msg": "m"})).startswith("{")


def test_configure_replaces_earlier_observers(tmp_path: Path, logger: logging.Logger) -> None:
    configure_logging(logfile=tmp_path / "a.log", logger_name=logger.name)
    logger.info("to a")
    configure_logging(logfile=tmp_path / "b.log", logger_name=logger.name)
    logger.info("to b")
    assert sum(isinstance(h, FileObserver) for h in logger.handlers) == 1
    assert [line.rsplit(": ", 1)[1] for line in lines(tmp_path / "a.log")] == ["to a"]
    assert [line.rsplit(": ", 1)[1] for line in lines(tmp_path / "b.log")] == ["to b"]
    with pytest.raises(UsageError, match="unknown log level"):
        configure_logging(level="chatty", logger_name=logger.name)


STDOUT_PROGRAM = """
import logging, sys
from appcore import configure_logging, get_logger
configure_logging(logfile="-", json_lines="json" in sys.argv)
log = get_logger("twistd")
log.info("started")
log.error("two\\nlines")
logging.getLogger("asyncio").warning("from another library")
"""


def run_stdout_program(tmp_path: Path, journal: str | None, *args: str) -> list[str]:
    out_path = tmp_path / "stdout.txt"
    out_path.touch()
    info = out_path.stat()
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    if journal == "match":
        env["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino}"
    elif journal == "other":
        env["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino + 12345}"
    with open(out_path, "w") as out:
        subprocess.run(
            [sys.executable, "-c", STDOUT_PROGRAM, *args],
            stdout=out,
            env=env,
            timeout=30,
            check=True,
        )
    return lines(out_path)


def test_stdout_journal_format_when_systemd_connected_it(tmp_path: Path) -> None:
    assert run_stdout_program(tmp_path, "match") == [
        "<6>[appcore.twistd] started",
        "<3>[appcore.twistd] two",
        "<3>lines",
        "<4>[asyncio] from another library",
    ]


@pytest.mark.parametrize("journal", [None, "other"])
def test_stdout_text_format_otherwise(tmp_path: Path, journal: str | None) -> None:
    output = run_stdout_program(tmp_path, journal)
    assert len(output) == 4
    assert output[0].endswith(" [appcore.twistd] INFO: started")
    assert output[3].endswith(" [asyncio] WARNING: from another library")


def test_stdout_json_lines(tmp_path: Path) -> None:
    records = [json.loads(line) for line in run_stdout_program(tmp_path, "match", "json")]
    assert [(r["logger"], r["message"]) for r in records] == [
        ("appcore.twistd", "started"),
        ("appcore.twistd", "two\nlines"),
        ("asyncio", "from another library"),
    ]
