"""The FTP protocol itself: aioftp's server, confined to one folder, with active mode added.

aioftp (a maintained asyncio FTP library) speaks the protocol. What this module adds:

* **confinement**: every path a client names is resolved (symbolic links included) and
  refused with ``550`` when it leaves the served folder; the file-system layer checks again
  on every operation, so a link that escapes is neither listed, read, written nor followed;
* **users**: anonymous read-only logins and named users from an :mod:`appcore._passwords`
  file (read again at every login), verified off the event loop, with a delay on failure;
  failed logins are limited per client address across connections
  (:class:`~appcore.LoginThrottle`) and a client not logged in within ``login_timeout``
  seconds (30) is told ``421`` and disconnected;
* **active mode** (``PORT``/``EPRT``, which aioftp's server lacks), only towards the
  client's own address and unprivileged ports (no FTP bounce); passive data connections
  are accepted only from the client's own address.

Replies and RFC 959 conformance live in :mod:`._basic`, the RFC 2389/3659 extensions
(``FEAT``, ``MDTM``, ``SIZE``, ``MLST``/``MLSD`` facts) in :mod:`._extensions`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import aioftp
from aioftp import errors, pathio
from aioftp.common import Connection, ThrottleStreamIO
from aioftp.server import ConnectionConditions

from appcore import LOGIN_TIMEOUT, LoginThrottle
from appcore_ftp._basic import Command, epsv_only
from appcore_ftp._extensions import ExtendedServer
from appcore_ftp._replies import OUTSIDE
from appcore_ftp._users import ANONYMOUS_NAMES, UserDirectory

__all__ = ["ANONYMOUS_NAMES", "PATH_COMMANDS", "ConfinedPathIO", "FTPServer", "UserDirectory"]

logger = logging.getLogger("appcore.ftp")

#: Commands whose argument is a path, checked against the served folder before they run.
PATH_COMMANDS = (
    "appe", "cwd", "dele", "list", "mdtm", "mkd", "mlsd", "mlst", "nlst", "retr", "rmd",
    "rnfr", "rnto", "size", "stor",
)  # fmt: skip


def inside(root: str, path: str | os.PathLike[str]) -> bool:
    """Whether ``path``, with every symbolic link resolved, lies in ``root`` (a real path)."""
    real = os.path.realpath(path)
    return os.path.commonpath([root, real]) == root


def _refused(path: Path) -> errors.PathIOError:
    err = PermissionError(errno.EACCES, OUTSIDE, str(path))
    return errors.PathIOError(reason=(PermissionError, err, None))  # type: ignore[arg-type]


class ConfinedPathIO(pathio.AsyncPathIO):
    """aioftp's file layer (in a thread pool) that refuses anything outside the user's root.

    The served folder is the logged-in user's ``base_path`` (already a real path). A path
    leaving it does not "exist", so a listing skips links that point outside.
    """

    def _root(self) -> str:
        connection = self.connection
        if connection is None or not connection.future.user.done():
            raise _refused(Path("."))
        return str(connection.user.base_path)

    def _check(self, path: Path) -> None:
        if not inside(self._root(), path):
            raise _refused(path)

    async def exists(self, path: Path) -> bool:
        return inside(self._root(), path) and await super().exists(path)

    async def is_dir(self, path: Path) -> bool:
        return inside(self._root(), path) and await super().is_dir(path)

    async def is_file(self, path: Path) -> bool:
        return inside(self._root(), path) and await super().is_file(path)

    async def mkdir(self, path: Path, *, parents: bool = False, exist_ok: bool = False) -> None:
        self._check(path)
        await super().mkdir(path, parents=parents, exist_ok=exist_ok)

    async def rmdir(self, path: Path) -> None:
        self._check(path)
        await super().rmdir(path)

    async def unlink(self, path: Path) -> None:
        self._check(path)
        await super().unlink(path)

    async def stat(self, path: Path) -> os.stat_result:
        self._check(path)
        return await super().stat(path)

    async def rename(self, source: Path, destination: Path) -> Path:
        self._check(source)
        self._check(destination)
        return await super().rename(source, destination)

    async def _open(self, path: Path, *args: Any, **kwargs: Any) -> Any:
        self._check(path)
        return await super()._open(path, *args, **kwargs)

    def list(self, path: Path) -> Any:
        self._check(path)
        return super().list(path)


class _ActiveMode:
    """Stands in for a passive listener once the client chose active mode (``PORT``)."""

    sockets: tuple[()] = ()

    def close(self) -> None:
        """Nothing listens in active mode."""


_ACTIVE = _ActiveMode()


class _DataPorts(asyncio.PriorityQueue[tuple[int, int]]):
    """The passive port pool; port 0 (no passive listener was used) is never put back."""

    def put_nowait(self, item: tuple[int, int]) -> None:
        if item[1]:
            super().put_nowait(item)


class FTPServer(ExtendedServer):
    """aioftp's server, confined to ``root``, with the additions described in the module."""

    features: ClassVar[tuple[str, ...]] = (*ExtendedServer.features, "EPRT")

    def __init__(
        self,
        root: Path,
        users: UserDirectory,
        *,
        passive_ports: range | None,
        masquerade: str | None,
        idle_timeout: float | None,
        login_timeout: float = LOGIN_TIMEOUT,
    ) -> None:
        super().__init__(
            users,
            block_size=64 * 1024,
            idle_timeout=idle_timeout,
            socket_timeout=60.0,
            wait_future_timeout=5.0,
            path_io_factory=ConfinedPathIO,
            ipv4_pasv_forced_response_address=masquerade,
            welcome_message="appcore ftp server ready",
        )
        if passive_ports is not None:
            pool = _DataPorts()
            for port in passive_ports:
                pool.put_nowait((0, port))
            self.available_data_ports = pool
        self.root = root
        self.login_timeout = login_timeout
        #: Failed logins per client address, across this server's connections.
        self.login_throttle = LoginThrottle()
        # What aioftp's own start() would set; the listening socket is appcore's instead.
        self.connections = {}
        self.server_host, self.server_port = None, 0
        self._start_server_extra_arguments = {}
        self.add_commands({"port": self.port, "eprt": self.eprt})
        self.commands_mapping["pass"] = self._throttled(self.commands_mapping["pass"])
        for name in PATH_COMMANDS:
            command = self.commands_mapping[name]
            self.commands_mapping[name] = self._confined(name, command)

    def _confined(self, name: str, command: Any) -> Command:
        root = str(self.root)

        async def guarded(connection: Connection, rest: Any) -> bool:
            if name in ("list", "nlst", "mlsd") and isinstance(rest, str):
                # Clients send ls flags ("LIST -la"); they are not a path.
                rest = " ".join(w for w in rest.split(" ") if not w.startswith("-"))
            if connection.future.logged.done():
                real, _ = self.get_paths(connection, rest)
                if not inside(root, real):
                    connection.response("550", f"permission denied: {OUTSIDE}")
                    return True
            result: bool = await command(connection, rest)
            return result

        return guarded

    def _throttled(self, check: Command) -> Command:
        """``PASS``, waiting for the turn of the client's address (see LoginThrottle)."""
        throttle = self.login_throttle

        async def throttled(connection: Connection, rest: Any) -> bool:
            if connection.future.logged.done() or not connection.future.user.done():
                return await check(connection, rest)  # aioftp's own 503 replies
            peer = connection.client_host
            if not await throttle.admit(peer):
                logger.warning("ftp: too many failed logins from %s: hanging up", peer)
                connection.response("421", "too many failed logins from your address")
                return False
            result = await check(connection, rest)
            if connection.future.logged.done():
                throttle.succeeded(peer)
                connection.signed_in = True  # ends the login deadline
            return result

        return throttled

    async def greeting(self, connection: Connection, rest: str | PurePosixPath) -> bool:
        """Welcome the client and start its login deadline."""
        ok: bool = await super().greeting(connection, rest)
        if ok:
            # The session runs its extra workers beside the commands; False ends it.
            connection.extra_workers.add(asyncio.ensure_future(self._login_deadline(connection)))
        return ok

    async def _login_deadline(self, connection: Connection) -> bool:
        # Not aioftp's "logged" future: each USER replaces that one, and the deadline would
        # go on waiting for the replaced one and hang up on a client long logged in.
        signed_in = connection.future.signed_in
        try:
            await asyncio.wait_for(asyncio.shield(signed_in), self.login_timeout)
        except TimeoutError:
            logger.warning("ftp: no login from %s in time: hanging up", connection.client_host)
            connection.response("421", "login timed out")
            return False
        return True

    def session_started(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Run one control connection's session in a task of its own.

        (Not handed to asyncio as a coroutine: Python 3.11's stream protocol reports a
        cancelled session task, as at every stop, as an error.)
        """
        task = asyncio.ensure_future(self.dispatcher(reader, writer))
        task.add_done_callback(_session_ended)

    async def parse_command(  # type: ignore[override]
        self, stream: Any, censor_commands: tuple[str] = ("pass",)
    ) -> tuple[str, str] | bool:
        """The next command, or False (the session then ends quietly) on hang-up or idle.

        aioftp raises here instead, and the exception ends up logged as a crash.
        """
        try:
            line: bytes = await stream.readline()
        except ValueError:  # longer than the stream limit; the rest of it is dropped
            return "", "line too long"
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            return False
        if not line:
            return False
        try:
            text = line.decode(self.encoding).rstrip("\r\n")
        except UnicodeDecodeError:
            return "", "not " + self.encoding
        command, _, rest = text.partition(" ")
        return command.lower(), rest

    def cancel_sessions(self) -> list[asyncio.Task[Any]]:
        """Cancel every session (each then closes its connections); returns their tasks."""
        tasks: list[asyncio.Task[Any]] = [c._dispatcher for c in list(self.connections.values())]
        for task in tasks:
            task.cancel()
        return tasks

    # --- passive mode: data connections only from the client itself

    async def _start_passive_server(
        self,
        connection: Connection,
        handler_callback: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    ) -> asyncio.Server:
        async def checked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername") or ("",)
            if peer[0] != connection.client_host:
                logger.warning("ftp: data connection from foreign address %s refused", peer[0])
                writer.close()
                return
            await handler_callback(reader, writer)

        return await super()._start_passive_server(connection, checked)

    async def pasv(self, connection: Connection, rest: str | PurePosixPath) -> bool:
        if epsv_only(connection):
            return True
        _leave_active_mode(connection)
        return await super().pasv(connection, rest)

    async def epsv(self, connection: Connection, rest: str | PurePosixPath) -> bool:
        _leave_active_mode(connection)
        return await super().epsv(connection, rest)

    # --- active mode

    # (Decorated methods say ``self: aioftp.Server``: aioftp's decorators are typed for it.)

    @ConnectionConditions(ConnectionConditions.login_required)
    async def port(self: aioftp.Server, connection: Connection, rest: str) -> bool:
        if epsv_only(connection):
            return True
        parts = rest.strip().split(",")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) != 6 or not all(0 <= n <= 255 for n in numbers):
            connection.response("501", "expected PORT h1,h2,h3,h4,p1,p2")
            return True
        host = ".".join(str(n) for n in numbers[:4])
        await _connect_active(connection, host, numbers[4] * 256 + numbers[5])
        return True

    @ConnectionConditions(ConnectionConditions.login_required)
    async def eprt(self: aioftp.Server, connection: Connection, rest: str) -> bool:
        if epsv_only(connection):
            return True
        text = rest.strip()
        fields = text[1:].split(text[:1]) if len(text) > 1 else []
        if len(fields) != 4 or fields[0] not in ("1", "2") or not fields[2].isdigit():
            connection.response("501", "expected EPRT |1|address|port| or |2|address|port|")
            return True
        await _connect_active(connection, fields[1], int(fields[2]))
        return True


async def _connect_active(connection: Connection, host: str, port: int) -> None:
    # Only to the client's own address and an unprivileged port: no FTP bounce attacks.
    if host != connection.client_host or not 1024 <= port <= 65535:
        connection.response("501", "active mode only to your own address, port 1024 up")
        return
    if connection.future.data_connection.done():
        connection.data_connection.close()
        del connection.data_connection
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=(connection.server_host, 0)),
            connection.wait_future_timeout,
        )
    except (OSError, TimeoutError) as err:
        logger.info("ftp: active data connection to %s:%d failed: %s", host, port, err)
        connection.response("425", "cannot open the data connection")
        return
    if not connection.future.passive_server.done():
        connection.passive_server = _ACTIVE  # what transfer commands wait for
    connection.data_connection = ThrottleStreamIO(
        reader,
        writer,
        throttles=connection.command_connection.throttles,
        timeout=connection.socket_timeout,
    )
    connection.response("200", "active data connection ready")


def _session_ended(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("ftp: session failed: %r", task.exception())


def _leave_active_mode(connection: Connection) -> None:
    if connection.future.passive_server.done() and connection.passive_server is _ACTIVE:
        del connection.passive_server
