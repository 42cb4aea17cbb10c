"""Where a twistd run's log records go, chosen from the command line."""

from __future__ import annotations

import logging
from pathlib import Path

from ._config import RunConfig

log = logging.getLogger("appcore.twistd")


def start_logging(config: RunConfig, logfile: Path | None, *, max_mode: int | None = None) -> None:
    """Install the observers: syslog, a (rotated) file, or stdout.

    ``logfile`` None means stdout, where lines take the journal's format by themselves when
    systemd connected stdout to the journal (``JOURNAL_STREAM``). ``max_mode`` caps the log
    file's permission bits (the input file's: a log is no more readable than its source).
    """
    from appcore import configure_logging

    configure_logging(
        logfile=None if config.syslog else (logfile if logfile is not None else "-"),
        rotate_length=config.log_rotate_length,
        daily=config.log_rotate_daily,
        syslog=config.syslog,
        syslog_address=config.syslog_socket,
        prefix=config.prefix,
        json_lines=config.log_format == "json",
        level=logging.DEBUG if config.debug else logging.INFO,
        max_mode=max_mode,
    )


def reopen_log_files() -> None:
    """SIGHUP / SIGUSR1: open the log file afresh after logrotate renamed it."""
    from appcore import AppcoreError, reopen_logs

    try:
        reopen_logs()
    except AppcoreError as err:
        log.warning("%s", err.message)
    else:
        log.info("log files reopened")
