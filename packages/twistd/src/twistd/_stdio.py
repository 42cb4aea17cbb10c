"""A daemon's stdout and stderr, its warnings and its threads' exceptions, sent to the log.

A daemon's stdio would otherwise be ``/dev/null``: a ``print`` left in an application, the
traceback a library writes to stderr, a deprecation warning, the exception that ends a
thread would all be lost. Here fds 1 and 2 become pipes, so output of C code and of child
processes is caught as well as Python's, and a thread turns each line into a log record:
stdout at INFO as ``appcore.twistd.stdout``, stderr at ERROR as ``appcore.twistd.stderr``.
Warnings go through :func:`logging.captureWarnings`; an exception that ends a thread is
logged with its traceback by :data:`threading.excepthook`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import select
import sys
import threading

log = logging.getLogger("appcore.twistd")

# A line longer than this is logged in pieces rather than held in memory without end.
_MAX_LINE = 65536
_STREAMS = ((1, "stdout", logging.INFO), (2, "stderr", logging.ERROR))


class StdioToLog:
    """Turns what is written to fds 1 and 2 into log records, from :meth:`start` to
    :meth:`stop`."""

    def __init__(self) -> None:
        self._readers: dict[int, tuple[logging.Logger, int]] = {}
        self._wake_read, self._wake_write = -1, -1
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Point fds 1 and 2 at pipes read by a thread; route warnings and thread errors."""
        for target, name, level in _STREAMS:
            read_end, write_end = os.pipe()
            os.dup2(write_end, target)  # inheritable: a service's child processes log too
            os.close(write_end)
            self._readers[read_end] = (logging.getLogger(f"appcore.twistd.{name}"), level)
        self._wake_read, self._wake_write = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper):
                # Block buffering would hold a print back until 8 KiB have gathered.
                stream.reconfigure(line_buffering=True)
        # logging reports its own failures on stderr, which is now the log itself: a
        # failing log file would feed itself without end.
        logging.raiseExceptions = False
        logging.captureWarnings(True)
        threading.excepthook = _log_thread_exception
        self._thread = threading.Thread(target=self._pump, name="twistd-stdio", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Log what is still in the pipes, then give fds 1 and 2 back to ``/dev/null``."""
        if self._thread is None:
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        null = os.open(os.devnull, os.O_WRONLY)
        for target, _, _ in _STREAMS:
            os.dup2(null, target)
        os.close(null)
        os.write(self._wake_write, b"x")
        self._thread.join(timeout)
        if not self._thread.is_alive():  # else it may still select on the wake-up pipe
            os.close(self._wake_read)
            os.close(self._wake_write)
        self._thread = None
        threading.excepthook = threading.__excepthook__
        logging.captureWarnings(False)

    def _pump(self) -> None:
        partial = dict.fromkeys(self._readers, b"")
        watched = [*self._readers, self._wake_read]
        while len(watched) > 1:
            ready, _, _ = select.select(watched, [], [])
            if self._wake_read in ready:
                # Stopping: take what the pipes hold now, without waiting for an EOF that a
                # still-running child process may never give.
                for fd in self._readers:
                    os.set_blocking(fd, False)
                ready = [fd for fd in watched if fd != self._wake_read]
                watched = [self._wake_read]
            for fd in ready:
                while True:
                    try:
                        chunk = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    except OSError:
                        chunk = b""
                    if not chunk:
                        if fd in watched:
                            watched.remove(fd)
                        break
                    partial[fd] = self._emit_lines(fd, partial[fd] + chunk)
                    if fd in watched:
                        break  # still running: back to select, the pipe may have no more
        for fd, rest in partial.items():
            if rest:
                self._emit(fd, rest)
            os.close(fd)

    def _emit_lines(self, fd: int, data: bytes) -> bytes:
        """Log every complete line of ``data``; return the incomplete rest."""
        *lines, rest = data.split(b"\n")
        for line in lines:
            self._emit(fd, line)
        if len(rest) > _MAX_LINE:
            self._emit(fd, rest)
            return b""
        return rest

    def _emit(self, fd: int, line: bytes) -> None:
        text = line.decode("utf-8", "backslashreplace").rstrip("\r")
        if text.strip():
            logger, level = self._readers[fd]
            logger.log(level, "%s", text)


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return  # what threading's own hook ignores too
    name = args.thread.name if args.thread is not None else "?"
    value = args.exc_value if args.exc_value is not None else args.exc_type()
    log.error(
        "uncaught exception in thread %s", name, exc_info=(args.exc_type, value, args.exc_traceback)
    )
