"""systemd's readiness protocol (``sd_notify``) spoken over ``NOTIFY_SOCKET``.

The socket is connected once, early, while the process still sees the path and holds its
privileges; a connected datagram socket keeps working after ``chroot`` and a uid switch.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

NOTIFY_ENV = "NOTIFY_SOCKET"


def notify_address(value: str) -> str:
    """The socket address named by ``NOTIFY_SOCKET``; ``@name`` is the abstract namespace."""
    if value.startswith("@"):
        return "\0" + value[1:]
    return value


class Notifier:
    """Sends ``READY=1``, ``STOPPING=1`` and friends to the service manager, if there is one.

    Without ``NOTIFY_SOCKET`` every call is a no-op, so callers never need to ask whether
    they run under systemd. A failed send never stops the daemon: readiness is advisory.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._socket: socket.socket | None = None
        self.address = env.get(NOTIFY_ENV, "")
        if not self.address:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(notify_address(self.address))
        except OSError:
            sock.close()
            return
        self._socket = sock

    @property
    def enabled(self) -> bool:
        """Whether a service manager is listening."""
        return self._socket is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; True when the datagram went out."""
        if self._socket is None:
            return False
        try:
            self._socket.send("\n".join(assignments).encode())
        except OSError:
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell the manager every service has started (``Type=notify``)."""
        extra = (f"STATUS={status}",) if status else ()
        return self.notify("READY=1", f"MAINPID={os.getpid()}", *extra)

    def stopping(self) -> bool:
        """Tell the manager an orderly shutdown has begun."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        """Release the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
