"""aioftp's server answering as RFC 959 (and RFC 1123, RFC 2428) expect.

What changes against aioftp's own server:

* every reply goes through :func:`~appcore_ftp._replies.reword` (plain English, and ``530``
  rather than ``503`` for a command sent before logging in);
* a file-system error in a command or a transfer is answered by
  :func:`~appcore_ftp._replies.refusal`: ``550`` for what retrying will not change,
  ``451`` only for the unexpected (aioftp says ``451`` to all);
* the served folder itself can be neither removed nor renamed (``RMD ..`` at the top used
  to reach ``rmdir`` on it), and replies that were empty say what happened
  (``257 "/made" created``);
* ``ABOR`` ends the transfer in progress and the session goes on (aioftp's session could
  end there, or keep sending);
* ``TYPE`` understands ``A N`` and ``L 8``; ``MODE S``, ``STRU F``, ``NOOP`` and ``NLST``
  exist; ``EPSV ALL`` and ``EPSV <protocol>`` are answered (aioftp hung up on them);
  ``PBSZ`` and ``PROT`` are gone, since this server offers no TLS for them to act on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import PurePosixPath
from typing import Any

import aioftp
from aioftp import errors
from aioftp.common import END_OF_LINE, Connection, StreamIO, wrap_with_container
from aioftp.server import ConnectionConditions, PathConditions, PathPermissions, worker

from appcore_ftp._replies import refusal, reword

Command = Callable[[Connection, Any], Awaitable[bool]]
ROOT = PurePosixPath("/")
#: How many times (0.1 s apart) ``ABOR`` cancels a transfer that goes on.
ABORT_TRIES = 50


class BasicServer(aioftp.Server):
    """aioftp's server with the replies described in the module."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("pbsz", "prot"):
            del self.commands_mapping[name]
        own: dict[str, Command] = {
            "mode": self.mode,
            "stru": self.stru,
            "noop": self.noop,
            "nlst": self.nlst,
        }
        self.commands_mapping.update(own)
        self.commands_mapping = {
            name: _answering(command) for name, command in self.commands_mapping.items()
        }

    def add_commands(self, commands: Mapping[str, Command]) -> None:
        """Add commands (lower-case names), their file-system errors answered properly."""
        self.commands_mapping.update({name: _answering(c) for name, c in commands.items()})

    async def write_response(
        self, stream: StreamIO, code: str, lines: str = "", list: bool = False
    ) -> None:
        """Send a reply, reworded by :func:`~appcore_ftp._replies.reword`."""
        texts = wrap_with_container(lines)
        if not list and len(texts) == 1:
            code, lines = reword(code, texts[0])
        await super().write_response(stream, code, lines, list)

    async def greeting(self, connection: Connection, rest: str | PurePosixPath) -> bool:
        """Welcome the client; its transfers now answer their file-system errors properly."""
        connection.extra_workers = _Workers(connection)
        ok: bool = await super().greeting(connection, rest)
        return ok

    # --- commands whose replies aioftp leaves empty, or which touch the served folder itself

    # (Decorated methods say ``self: aioftp.Server``: aioftp's decorators are typed for it.)

    @ConnectionConditions(ConnectionConditions.login_required)
    @PathConditions(PathConditions.path_must_exists, PathConditions.path_must_be_dir)
    @PathPermissions(PathPermissions.readable)
    async def cwd(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        _, virtual = self.get_paths(connection, rest)
        connection.current_directory = virtual
        connection.response("250", f"now in {_quoted(virtual)}")
        return True

    @ConnectionConditions(ConnectionConditions.login_required)
    @PathConditions(PathConditions.path_must_not_exists)
    @PathPermissions(PathPermissions.writable)
    async def mkd(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        real, virtual = self.get_paths(connection, rest)
        await connection.path_io.mkdir(real, parents=True)
        connection.response("257", f"{_quoted(virtual)} created")
        return True

    @ConnectionConditions(ConnectionConditions.login_required)
    @PathConditions(PathConditions.path_must_exists, PathConditions.path_must_be_dir)
    @PathPermissions(PathPermissions.writable)
    async def rmd(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        real, virtual = self.get_paths(connection, rest)
        if virtual == ROOT:  # what ".." from the top comes to as well
            connection.response("550", "permission denied: the served folder cannot be removed")
            return True
        await connection.path_io.rmdir(real)
        connection.response("250", "folder removed")
        return True

    @ConnectionConditions(ConnectionConditions.login_required)
    @PathConditions(PathConditions.path_must_exists, PathConditions.path_must_be_file)
    @PathPermissions(PathPermissions.writable)
    async def dele(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        real, _ = self.get_paths(connection, rest)
        await connection.path_io.unlink(real)
        connection.response("250", "file deleted")
        return True

    @ConnectionConditions(ConnectionConditions.login_required)
    @PathConditions(PathConditions.path_must_exists)
    @PathPermissions(PathPermissions.writable)
    async def rnfr(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        real, virtual = self.get_paths(connection, rest)
        if virtual == ROOT:
            connection.response("550", "permission denied: the served folder cannot be renamed")
            return True
        connection.rename_from = real
        connection.response("350", "ready for the new name (RNTO)")
        return True

    @ConnectionConditions(
        ConnectionConditions.login_required, ConnectionConditions.rename_from_required
    )
    @PathConditions(PathConditions.path_must_not_exists)
    @PathPermissions(PathPermissions.writable)
    async def rnto(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        real, _ = self.get_paths(connection, rest)
        source = connection.rename_from
        del connection.rename_from
        await connection.path_io.rename(source, real)
        connection.response("250", "renamed")
        return True

    # --- transfer parameters

    @ConnectionConditions(ConnectionConditions.login_required)
    async def type(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        words = str(rest).upper().split()
        # Transfers send the bytes of the file as they are, in either type.
        kinds = {("I",): "I", ("L", "8"): "I", ("A",): "A", ("A", "N"): "A"}
        kind = kinds.get(tuple(words))
        if kind is not None:
            connection.transfer_type = kind
            connection.response("200", f"type set to {kind}")
        elif words and words[0] in ("A", "E", "I", "L"):
            connection.response("504", "only TYPE A (or A N) and TYPE I (or L 8) are supported")
        else:
            connection.response("501", "expected TYPE A or TYPE I")
        return True

    @ConnectionConditions(ConnectionConditions.login_required)
    async def mode(self: aioftp.Server, connection: Connection, rest: str) -> bool:
        return _only(connection, "MODE", rest, "SBC")  # stream, block, compressed

    @ConnectionConditions(ConnectionConditions.login_required)
    async def stru(self: aioftp.Server, connection: Connection, rest: str) -> bool:
        return _only(connection, "STRU", rest, "FRP")  # file, record, page

    async def noop(self, connection: Connection, rest: str) -> bool:
        connection.response("200", "ok")
        return True

    @ConnectionConditions(ConnectionConditions.login_required)
    async def epsv(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        argument = str(rest).strip().upper()
        if argument == "ALL":
            # RFC 2428: from now on, every other way of setting up data connections is refused
            connection.epsv_all = True
            connection.response("200", "EPSV ALL: only EPSV from now on")
            return True
        family = "2" if ":" in str(connection.server_host) else "1"
        if argument not in ("", family):
            connection.response("522", f"network protocol not supported, use ({family})")
            return True
        ok: bool = await aioftp.Server.epsv(self, connection, "")
        return ok

    async def pasv(self, connection: Connection, rest: str | PurePosixPath) -> bool:
        if epsv_only(connection):
            return True
        ok: bool = await super().pasv(connection, rest)
        return ok

    @ConnectionConditions(ConnectionConditions.login_required)
    async def abor(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        """Cancel the transfer in progress; it answers ``426`` then ``226`` as it ends."""
        running = {task for task in connection.extra_workers if not task.done()}
        if not running:
            connection.response("226", "nothing to abort")
            return True
        # Python 3.11's wait_for drops a cancellation that meets the end of what it waits
        # for (a block written to the data connection): ask again until the transfer ends.
        for _ in range(ABORT_TRIES):
            for task in running:
                task.cancel()
            _, running = await asyncio.wait(running, timeout=0.1)
            if not running:
                break
        return True

    # --- names only

    @ConnectionConditions(
        ConnectionConditions.login_required, ConnectionConditions.passive_server_started
    )
    @PathConditions(PathConditions.path_must_exists)
    @PathPermissions(PathPermissions.readable)
    async def nlst(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        @ConnectionConditions(
            ConnectionConditions.data_connection_made,
            wait=True,
            fail_code="425",
            fail_info="cannot open the data connection",
        )
        @worker
        async def nlst_worker(self: aioftp.Server, connection: Connection, rest: Any) -> bool:
            stream = connection.data_connection
            del connection.data_connection
            async with stream:
                async for path in connection.path_io.list(real_path):
                    if await connection.path_io.exists(path):
                        await stream.write((path.name + END_OF_LINE).encode(self.encoding))
            connection.response("226", "name list sent")
            return True

        real_path, _ = self.get_paths(connection, rest)
        task: asyncio.Future[Any] = asyncio.ensure_future(nlst_worker(self, connection, rest))
        connection.extra_workers.add(task)
        connection.response("150", "sending the name list")
        return True


def epsv_only(connection: Connection) -> bool:
    """Whether the client said ``EPSV ALL`` (then it is told so, and True is returned)."""
    future = connection.get("epsv_all")
    if future is not None and future.done():
        connection.response("503", "EPSV ALL was sent: only EPSV sets up data connections")
        return True
    return False


def _only(connection: Connection, command: str, rest: str, values: str) -> bool:
    """Answer ``command`` (MODE, STRU) of which only the first of ``values`` is supported."""
    value = rest.strip().upper()
    supported = values[0]
    if value == supported:
        connection.response("200", f"{command} set to {supported}")
    elif value and value in values:
        connection.response("504", f"only {command} {supported} is supported")
    else:
        connection.response("501", f"expected {command} {supported}")
    return True


def _quoted(path: PurePosixPath) -> str:
    # RFC 959 appendix II: a double quote inside the quoted name is doubled.
    return '"' + str(path).replace('"', '""') + '"'


def _answering(command: Command) -> Command:
    """``command``, answering a file-system error it meets with :func:`refusal`."""

    async def answering(connection: Connection, rest: Any) -> bool:
        try:
            return await command(connection, rest)
        except errors.PathIOError as err:
            connection.response(*refusal(err))
            return True

    return answering


class _Workers(set[asyncio.Future[Any]]):
    """A session's background work (transfers); a file-system error in one is answered by
    :func:`refusal` instead of aioftp's ``451``.

    Each task is held through an :class:`_Answered` stand-in, which the session waits on,
    cancels (``ABOR``, the end of the session) and reads the result of, as it would the task.
    """

    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self.connection = connection

    def add(self, element: asyncio.Future[Any]) -> None:
        super().add(_Answered(element, self.connection))


class _Answered(asyncio.Future[Any]):
    """Settles as ``task`` does, except that a file-system error is answered and dropped,
    and a cancelled task (``ABOR`` before the transfer began) is answered as aborted.

    (aioftp's session takes a cancelled result for its own cancellation and ends.)
    """

    def __init__(self, task: asyncio.Future[Any], connection: Connection) -> None:
        super().__init__(loop=task.get_loop())
        self._task = task
        self._connection = connection
        task.add_done_callback(self._settle)

    def cancel(self, msg: Any = None) -> bool:
        # The task decides how it ends (aioftp's transfers reply 426 then 226 when cancelled).
        return self._task.cancel(msg)

    def _settle(self, task: asyncio.Future[Any]) -> None:
        if self.done():
            return
        if task.cancelled():
            # Cancelled before aioftp's transfer could say so itself (it answers the same).
            self._connection.response("426", "transfer aborted")
            self._connection.response("226", "abort successful")
            self.set_result(None)
            return
        error = task.exception()
        if isinstance(error, errors.PathIOError):
            self._connection.response(*refusal(error))
            self.set_result(None)
        elif error is not None:
            self.set_exception(error)
        else:
            self.set_result(task.result())
