"""Logging: the project's logger and the observers a server process writes to.

Library code logs through ``logging.getLogger("appcore")`` and its children
(``appcore.twistd``, ``appcore_web``): see :func:`get_logger`. A tool that runs a server calls
:func:`configure_logging` once to choose where records go:

* a file (:class:`FileObserver`), optionally rotated by size and/or daily, re-opened by
  :func:`reopen_logs` after ``logrotate`` renamed it (twistd calls it on SIGHUP and SIGUSR1);
* stdout, as text; as journal lines (``<6>`` priority prefixes, no timestamp: journald adds
  its own) when ``JOURNAL_STREAM`` shows stdout is connected to the journal;
* syslog (:class:`SyslogObserver`) over a unix datagram socket, ``/dev/log`` by default;
* JSON lines (:class:`JsonFormatter`) for a file or stdout: one object per record.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sys
from collections.abc import Mapping
from typing import IO, Any

from appcore._errors import (
    UnavailableError,
    UsageError,
)

LOGGER_NAME = "appcore"
TEXT_FORMAT = "%(asctime)s [%(name)s] %(levelname)s: %(message)s"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"

# syslog severities (RFC 5424) for Python's levels; a level between two maps down.
_SEVERITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))
FACILITIES: dict[str, int] = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    **{f"local{n}": 16 + n for n in range(8)},
}  # fmt: skip
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# rsyslog's default maximum message size; longer lines are cut rather than lost.
_SYSLOG_MAX_LINE = 8192

_installed: list[tuple[logging.Logger, logging.Handler]] = []


def get_logger(name: str | None = None) -> logging.Logger:
    """The project's logger ``appcore``, or its child ``appcore.<name>``."""
    if not name or name == LOGGER_NAME:
        return logging.getLogger(LOGGER_NAME)
    if name.startswith(LOGGER_NAME + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


def severity(levelno: int) -> int:
    """The syslog / sd-daemon severity (0-7) of a Python log level."""
    for floor, value in _SEVERITIES:
        if levelno >= floor:
            return value
    return 7


class TextFormatter(logging.Formatter):
    """``2025-01-31T12:00:00+0100 [appcore.twistd] INFO: message`` (local time)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT, TIME_FORMAT)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message, extra fields.

    A traceback goes in ``exception``; extra values JSON cannot hold are written as text.
    """

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created, dt.UTC)
        entry: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class JournalFormatter(logging.Formatter):
    """sd-daemon lines: ``<6>[appcore.twistd] message``, every line of a traceback prefixed."""

    def __init__(self) -> None:
        super().__init__("[%(name)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{severity(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


class SyslogObserver(logging.Handler):
    """Sends records to syslog as ``<PRI>prefix[pid]: message`` datagrams, one per line.

    ``address`` is the unix datagram socket of the syslog daemon; ``facility`` a name
    (``daemon``, ``local0``...) or number.
    """

    def __init__(
        self,
        prefix: str = LOGGER_NAME,
        *,
        facility: str | int = "daemon",
        address: str = "/dev/log",
    ) -> None:
        super().__init__()
        if isinstance(facility, str):
            if facility not in FACILITIES:
                known = ", ".join(FACILITIES)
                raise UsageError(f"unknown syslog facility {facility!r} (known: {known})")
            facility = FACILITIES[facility]
        if not 0 <= facility <= 23:
            raise UsageError(f"syslog facility must be 0-23: {facility}")
        self.prefix = prefix
        self.facility = facility
        self.address = address
        self.setFormatter(logging.Formatter("%(message)s"))
        self._socket: socket.socket | None = None
        try:
            self._connect()
        except OSError as err:
            raise UnavailableError(f"cannot reach syslog at {address}: {err.strerror}") from err

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.connect(self.address)
        except OSError:
            sock.close()
            raise
        self._socket = sock

    def emit(self, record: logging.LogRecord) -> None:
        try:
            pri = self.facility * 8 + severity(record.levelno)
            # The pid is read per record: a daemonizing tool forks after configuring logs.
            head = f"<{pri}>{self.prefix}[{os.getpid()}]: "
            for line in self.format(record).splitlines() or [""]:
                self._send((head + line).encode("utf-8", "backslashreplace")[:_SYSLOG_MAX_LINE])
        except Exception:
            self.handleError(record)

    def _send(self, datagram: bytes) -> None:
        try:
            if self._socket is None:
                self._connect()
            assert self._socket is not None
            self._socket.send(datagram)
        except OSError:
            # The syslog daemon restarted and its socket is new: connect once more.
            self._close_socket()
            self._connect()
            assert self._socket is not None
            self._socket.send(datagram)

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def close(self) -> None:
        self.acquire()
        try:
            self._close_socket()
        finally:
            self.release()
        super().close()


def journal_attached(stream: IO[Any], env: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` is the journal stream systemd named in ``JOURNAL_STREAM``."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    device, sep, inode = value.partition(":")
    if not sep:
        return False
    try:
        info = os.fstat(stream.fileno())
        return (info.st_dev, info.st_ino) == (int(device), int(inode))
    except (OSError, ValueError, AttributeError):
        return False


def configure_logging(
    *,
    logfile: str | os.PathLike[str] | None = None,
    rotate_length: int | None = None,
    max_rotated_files: int | None = None,
    daily: bool = False,
    syslog: bool = False,
    syslog_address: str = "/dev/log",
    prefix: str = LOGGER_NAME,
    facility: str | int = "daemon",
    json_lines: bool = False,
    level: int | str = logging.INFO,
    logger_name: str = "",
    max_mode: int | None = None,
) -> list[logging.Handler]:
    """Send log records to a file, stdout and/or syslog; returns the observers installed.

    ``logfile`` is a path, or ``"-"`` for stdout. With ``syslog`` records go to syslog; with
    neither, to stdout. ``json_lines`` writes the file or stdout as JSON lines. Observers go
    on ``logger_name`` (the root logger by default, so records of asyncio and third-party
    plugins are kept too); a second call replaces what the first installed. ``max_mode``
    caps the log file's permission bits (see :class:`FileObserver`).
    """
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        if not isinstance(resolved, int):
            raise UsageError(f"unknown log level {level!r}")
        level = resolved
    observers: list[logging.Handler] = []
    try:
        if syslog:
            observers.append(SyslogObserver(prefix, facility=facility, address=syslog_address))
        if logfile is not None and os.fspath(logfile) != "-":
            from appcore._logfile import FileObserver

            file_observer = FileObserver(
                logfile,
                rotate_length=rotate_length,
                max_rotated_files=max_rotated_files,
                daily=daily,
                max_mode=max_mode,
            )
            if json_lines:
                file_observer.setFormatter(JsonFormatter())
            observers.append(file_observer)
        elif logfile is not None or not syslog:
            stdout = logging.StreamHandler(sys.stdout)
            if json_lines:
                stdout.setFormatter(JsonFormatter())
            elif journal_attached(sys.stdout):
                stdout.setFormatter(JournalFormatter())
            else:
                stdout.setFormatter(TextFormatter())
            observers.append(stdout)
    except BaseException:
        for observer in observers:
            observer.close()
        raise
    reset_logging()
    target = logging.getLogger(logger_name)
    target.setLevel(level)
    for observer in observers:
        target.addHandler(observer)
        _installed.append((target, observer))
    return observers


def reset_logging() -> None:
    """Remove and close every observer :func:`configure_logging` installed."""
    while _installed:
        logger, observer = _installed.pop()
        logger.removeHandler(observer)
        observer.close()
