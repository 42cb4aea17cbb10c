"""Becoming a daemon, with a readiness pipe back to the process that started us.

The classic double fork (fork, ``setsid``, fork) detaches the daemon from the terminal and
makes sure it can never reacquire one. What the classic recipe lacks is honesty: its
first parent exits 0 at once, so ``twistd`` would "succeed" even when the daemon dies a
moment later on a port already in use. Here the original process keeps the read end of a
pipe and waits; the daemon writes one line when every service has started (``0``) or when
start-up failed (``CODE message``), and the original process exits with that code.
"""

from __future__ import annotations

import os
import sys

from appcore import ExitCode, error_line

# The daemon closes the pipe without a word only when it dies abruptly (killed, or a crash
# in C code); the parent then has nothing better to say than where the log is.
_SILENT_DEATH = "the daemon exited during start-up without a message"


class Readiness:
    """The daemon's end of the readiness pipe; a no-op when not daemonized."""

    def __init__(self, fd: int | None = None) -> None:
        self._fd = fd

    @property
    def pending(self) -> bool:
        """Whether the starting process is still waiting for a verdict."""
        return self._fd is not None

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
    first = os.fork()
    if first > 0:
        os.close(write_fd)
        os._exit(_await_verdict(read_fd, first, prog_name, log_hint))
    os.close(read_fd)
    os.setsid()
    if os.fork() > 0:
        # The session leader exits so that the daemon, not a session leader, can never
        # acquire a controlling terminal by opening one.
        os._exit(0)
    os.umask(umask)
    _stdio_to_devnull()
    return Readiness(write_fd)


def _await_verdict(read_fd: int, first_child: int, prog_name: str, log_hint: str | None) -> int:
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
