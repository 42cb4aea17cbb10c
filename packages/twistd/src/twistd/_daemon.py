"""Becoming a daemon, with a readiness pipe back to the process that started us.

The classic double fork (fork, ``setsid``, fork) detaches the daemon from the terminal and
makes sure it can never reacquire one. What the classic recipe lacks is honesty: its
first parent exits 0 at once, so ``twistd`` would "succeed" even when the daemon dies a
moment later on a port already in use. Here the original process keeps the read end of a
pipe and waits; the daemon writes one line when every service has started (``0``) or when
start-up failed (``CODE message``), and the original process exits with that code.

A second pipe runs the other way, the lifeline: the starting process acknowledges the verdict
on it, then exits. A daemon that sees the lifeline close without that acknowledgement knows
its starting process was killed (SIGTERM from a service manager, Ctrl-C, a closed terminal)
before it could report a successful start, and stops: otherwise it would run on, unknown to
whoever was told the start failed or was interrupted.
"""

from __future__ import annotations

import os
import signal
import sys

from appcore import ExitCode, error_line

# The daemon closes the pipe without a word only when it dies abruptly (killed, or a crash
# in C code); the parent then has nothing better to say than where the log is.
_SILENT_DEATH = "the daemon exited during start-up without a message"
_ACK = b"+"
# Blocked while the starting process acknowledges and exits: once the daemon was told all is
# well, the starting process must report exactly that, not die of a late signal.
_LAUNCHER_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT}


class Readiness:
    """The daemon's ends of the readiness pipe and the lifeline; no-ops when not daemonized."""

    def __init__(self, fd: int | None = None, lifeline: int | None = None) -> None:
        self._fd = fd
        self._lifeline = lifeline

    @property
    def pending(self) -> bool:
        """Whether the starting process is still waiting for a verdict."""
        return self._fd is not None

    @property
    def lifeline(self) -> int | None:
        """The fd on which the starting process acknowledges the verdict (then closes)."""
        return self._lifeline

    def launcher_news(self) -> bool | None:
        """Read the readable lifeline: True when the starting process saw the verdict, False
        when it died without seeing it, None when there is nothing to read after all."""
        if self._lifeline is None:
            return True
        try:
            data = os.read(self._lifeline, 16)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        return data.startswith(_ACK)

    def close_lifeline(self) -> None:
        """Done listening to the starting process."""
        fd, self._lifeline = self._lifeline, None
        if fd is not None:
            os.close(fd)

    def succeeded(self) -> None:
        """Release the waiting parent with exit status 0."""
        self._send("0\n")

    def failed(self, exit_code: int, message: str) -> None:
        """Make the waiting parent print ``message`` and exit with ``exit_code``."""
        one_line = " ".join(message.split())
        self._send(f"{int(exit_code)} {one_line}\n")

    def _send(self, line: str) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.write(fd, line.encode("utf-8", "replace"))
        except OSError:
            pass  # the parent was killed: nobody is left to tell
        finally:
            os.close(fd)


def daemonize(*, prog_name: str, log_hint: str | None = None, umask: int = 0o077) -> Readiness:
    """Detach from the terminal; returns only in the daemon.

    The original process never returns: it waits on the readiness pipe and exits with the
    daemon's verdict. ``log_hint`` names where to look when the daemon dies silently.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()  # both ends are close-on-exec: services' children never inherit
    life_read, life_write = os.pipe()
    first = os.fork()
    if first > 0:
        os.close(write_fd)
        os.close(life_read)
        os._exit(_await_verdict(read_fd, life_write, first, prog_name, log_hint))
    os.close(read_fd)
    os.close(life_write)
    os.set_blocking(life_read, False)
    os.setsid()
    if os.fork() > 0:
        # The session leader exits so that the daemon, not a session leader, can never
        # acquire a controlling terminal by opening one.
        os._exit(0)
    os.umask(umask)
    _stdio_to_devnull()
    return Readiness(write_fd, life_read)


def _await_verdict(
    read_fd: int, lifeline: int, first_child: int, prog_name: str, log_hint: str | None
) -> int:
    """Wait for the daemon's verdict and acknowledge it; the exit code to report.

    A signal that kills this process before the acknowledgement closes the lifeline bare,
    and the daemon stops (see the module docstring).
    """
    os.waitpid(first_child, 0)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(read_fd, 4096)
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            continue
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    signal.pthread_sigmask(signal.SIG_BLOCK, _LAUNCHER_SIGNALS)  # until os._exit
    try:
        os.write(lifeline, _ACK)
    except OSError:
        pass  # the daemon is gone already: the verdict (or its absence) says how
    os.close(lifeline)
    line = b"".join(chunks).decode("utf-8", "replace").strip()
    if not line:
        where = f" (see {log_hint})" if log_hint else ""
        error_line(prog_name, _SILENT_DEATH + where)
        return int(ExitCode.SOFTWARE)
    code_text, _, message = line.partition(" ")
    code = int(code_text) if code_text.isdigit() else int(ExitCode.SOFTWARE)
    if code != 0:
        error_line(prog_name, message or "the daemon failed to start")
    return code


def _stdio_to_devnull() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
