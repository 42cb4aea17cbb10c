"""The ``ftp`` server type: an FTP server on one folder.

Anonymous users (``anonymous`` or ``ftp``, any password) may read; named users log in with
a password from a file in :mod:`appcore._passwords` format (``NAME:$scrypt$...`` lines, made
with :func:`appcore._passwords.password_line`) and may also write when ``--writable`` is
given. Passive (``PASV``/``EPSV``) and active (``PORT``/``EPRT``) data connections,
resumed transfers (``REST``), and no way out of the folder: ``..``, absolute paths and
symbolic links pointing outside all stay inside or are refused.

The protocol is aioftp's (see :mod:`._server`); the listening socket is appcore's own
:class:`~appcore.StreamServerService`, so it is bound in the privileged start like any
other server's, and the persisted part is only the configuration held by
:class:`FTPFactory`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from appcore import LOGIN_TIMEOUT, Factory, NoInputError, StreamServerService, UsageError
from appcore_ftp._maker import ftp

if TYPE_CHECKING:
    from appcore_ftp._server import FTPServer


class FTPFactory(Factory):
    """The FTP configuration; one aioftp server per run is made from it (not persisted).

    ``root`` and ``passwd`` are absolute paths. ``passive_ports`` is ``"LOW-HIGH"`` or None
    for any free port.
    """

    __module__ = "appcore_ftp"  # persisted under its public name

    _transient: ClassVar[tuple[str, ...]] = ("_server",)
    _server: FTPServer | None = None
    #: Seconds a client has to log in (files saved before it existed get this too).
    login_timeout: float = LOGIN_TIMEOUT

    def __init__(
        self,
        root: str,
        *,
        passwd: str | None = None,
        anonymous: bool = True,
        writable: bool = False,
        passive_ports: str | None = None,
        masquerade: str | None = None,
        idle_timeout: float = 300.0,
        login_timeout: float = LOGIN_TIMEOUT,
    ) -> None:
        self.root = root
        self.passwd = passwd
        self.anonymous = anonymous
        self.writable = writable
        self.passive_ports = passive_ports
        self.masquerade = masquerade
        self.idle_timeout = idle_timeout
        self.login_timeout = login_timeout

    def _validate(self) -> None:
        ftp.options.check_loaded(self, "idle_timeout", "login_timeout")

    def __repr__(self) -> str:
        return f"<FTPFactory root={self.root!r}>"

    @property
    def server(self) -> FTPServer:
        """The protocol server of the current run (made on first use)."""
        if self._server is None:
            self._server = self._make_server()
        return self._server

    def _make_server(self) -> FTPServer:
        from appcore_ftp._server import FTPServer
        from appcore_ftp._users import UserDirectory

        root = Path(os.path.realpath(self.root))
        users = UserDirectory(
            root, anonymous=self.anonymous, passwd=self.passwd, writable=self.writable
        )
        ports = None
        if self.passive_ports:
            low, _, high = self.passive_ports.partition("-")
            ports = range(int(low), int(high or low) + 1)
        return FTPServer(
            root,
            users,
            passive_ports=ports,
            masquerade=self.masquerade,
            idle_timeout=self.idle_timeout if self.idle_timeout > 0 else None,
            login_timeout=self.login_timeout,
        )

    def build_protocol(self) -> asyncio.BaseProtocol:
        server = self.server
        loop = asyncio.get_running_loop()
        return asyncio.StreamReaderProtocol(
            asyncio.StreamReader(limit=64 * 1024, loop=loop), server.session_started, loop=loop
        )

    def release(self) -> FTPServer | None:
        """Forget the current run's protocol server and return it (for shutting down)."""
        server, self._server = self._server, None
        return server


class FTPServerService(StreamServerService):
    """A stream server for an :class:`FTPFactory` whose stop also ends the FTP sessions.

    Sessions are cancelled first, so that each closes its data connections and passive
    listeners itself; then the listening socket and control connections close as usual.
    """

    __module__ = "appcore_ftp"  # persisted under its public name

    factory: FTPFactory

    def start_service(self) -> Awaitable[None]:
        self.factory.release()  # a fresh protocol server (and passive port pool) per run
        return super().start_service()

    def stop_service(self) -> Awaitable[None] | None:
        server = self.factory.release()
        # Cancel the sessions before the control connections are closed under them.
        sessions = server.cancel_sessions() if server is not None else []
        closing = super().stop_service()
        if not sessions:
            return closing
        return asyncio.ensure_future(_stop_both(sessions, closing))


async def _stop_both(sessions: list[asyncio.Task[Any]], closing: Awaitable[None] | None) -> None:
    await asyncio.wait(sessions, timeout=5.0)
    if closing is not None:
        await closing


def make_service(options: Mapping[str, Any]) -> FTPServerService:
    """An FTP server on ``--listen`` serving ``--root`` (see the module docs)."""
    root = Path(options["root"]).expanduser()
    if not root.is_dir():
        raise NoInputError(f"--root {root}: not a folder")
    passwd: str | None = None
    if options.get("passwd") is not None:
        from appcore import read_password_file

        passwd_path = Path(options["passwd"]).expanduser().absolute()
        read_password_file(passwd_path)  # a missing or malformed file fails now, not at login
        passwd = str(passwd_path)
    anonymous = bool(options.get("anonymous", True))
    if not anonymous and passwd is None:
        raise UsageError("--no-anonymous needs --passwd: nobody could log in")
    factory = FTPFactory(
        str(root.absolute()),
        passwd=passwd,
        anonymous=anonymous,
        writable=bool(options.get("writable", False)),
        passive_ports=options.get("passive_ports"),
        masquerade=options.get("masquerade"),
        idle_timeout=float(options.get("idle_timeout") or 0.0),
        login_timeout=float(options.get("login_timeout") or LOGIN_TIMEOUT),
    )
    listen: str = options.get("listen") or "tcp:2121"
    return FTPServerService(listen, factory, name="ftp")
