"""The extensions clients look for to keep timestamps: RFC 2389 (``FEAT``, ``OPTS``) and
RFC 3659 (``MDTM``, ``SIZE``, ``MLST``/``MLSD`` facts, ``REST STREAM``, ``TVFS``).

``MLST``/``MLSD`` facts (RFC 3659 section 7.5), all on unless ``OPTS MLST`` selects fewer:

* ``type``: ``file``, ``dir`` or ``OS.unix=fifo`` (``socket``, ``chr``, ``blk``);
* ``size``: octets, for plain files;
* ``modify``: the modification time, ``YYYYMMDDHHMMSS`` in UTC;
* ``perm``: what the logged-in user may do (``r`` ``w`` ``a`` ``d`` ``f`` for a file;
  ``e`` ``l`` ``c`` ``m`` ``p`` ``d`` ``f`` for a folder); the served folder itself cannot be
  deleted or renamed;
* ``unique``: the device and inode numbers, the same for two names of one file.

``MDTM`` answers ``213 YYYYMMDDHHMMSS`` (UTC), for folders too (so a client listing with
``LIST`` can still give the folders it copies their times); ``SIZE`` answers ``213 N``, for
plain files only. Transfers send a file's bytes as they are in ``TYPE A`` as in ``TYPE I``, so
``SIZE`` is the number of octets either type transfers. Names are UTF-8, always.
"""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Final

import aioftp
from aioftp import errors
from aioftp.common import END_OF_LINE, Connection
from aioftp.server import ConnectionConditions, PathConditions, PathPermissions, worker

from appcore_ftp._basic import ROOT, BasicServer, Command

#: MLST facts in the order they are listed; all are on by default.
FACTS: Final = ("type", "size", "modify", "perm", "unique")
_SPECIAL: Final = {
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "chr",
    stat.S_IFBLK: "blk",
}


class ExtendedServer(BasicServer):
    """:class:`BasicServer` with the extensions described in the module."""

    #: What ``FEAT`` lists besides ``MLST``; subclasses add what they implement.
    features: ClassVar[tuple[str, ...]] = (
        "EPSV",
        "MDTM",
        "PASV",
        "REST STREAM",
        "SIZE",
        "TVFS",
        "UTF8",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        extensions: dict[str, Command] = {
            "feat": self.feat,
            "opts": self.opts,
            "mdtm": self.mdtm,
            "size": self.size,
        }
        self.add_commands(extensions)

    async def feat(self, connection: Connection, rest: str) -> bool:
        """RFC 2389: the extensions, one a line; ``*`` marks the MLST facts now on."""
        chosen = selected_facts(connection)
        mlst = "MLST " + "".join(f"{f}{'*' if f in chosen else ''};" for f in FACTS)
        lines = ["extensions supported:", *sorted([*self.features, mlst]), "end"]
        connection.response("211", lines, True)
        return True

    async def opts(self, connection: Connection, rest: str) -> bool:
        """``OPTS UTF8 ON`` (names always are UTF-8) and ``OPTS MLST fact;fact;``."""
        name, _, value = rest.strip().partition(" ")
        name, value = name.upper(), value.strip()
        if name == "UTF8":
            if value.upper() in ("", "ON"):
                connection.response("200", "UTF-8 is always on")
            else:
                connection.response("504", "UTF-8 cannot be turned off")
        elif name == "MLST":
            wanted = {f.strip().lower() for f in value.split(";")}
            chosen = tuple(f for f in FACTS if f in wanted)
            connection.mlst_facts = chosen
            listed = "".join(f + ";" for f in chosen)
            connection.response("200", f"MLST OPTS {listed}" if listed else "MLST OPTS")
        else:
            connection.response("501", f"no options for {name or 'that'}")
        return True

    # (Decorated methods say ``self: aioftp.Server``: aioftp's decorators are typed for it.)

    @ConnectionConditions(ConnectionConditions.login_required)
    @PathConditions(PathConditions.path_must_exists)
    @PathPermissions(PathPermissions.readable)
    async def mdtm(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        """RFC 3659 section 3: ``213 YYYYMMDDHHMMSS``, the modification time in UTC."""
        real, _ = self.get_paths(connection, rest)
        stats = await connection.path_io.stat(real)
        connection.response("213", utc(stats.st_mtime))
        return True

    @ConnectionConditions(ConnectionConditions.login_required)
    @PathConditions(PathConditions.path_must_exists, PathConditions.path_must_be_file)
    @PathPermissions(PathPermissions.readable)
    async def size(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        """RFC 3659 section 4: ``213 N``, the octets a transfer sends (see the module)."""
        real, _ = self.get_paths(connection, rest)
        stats = await connection.path_io.stat(real)
        connection.response("213", str(stats.st_size))
        return True

    @ConnectionConditions(ConnectionConditions.login_required)
    @PathConditions(PathConditions.path_must_exists)
    @PathPermissions(PathPermissions.readable)
    async def mlst(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        """RFC 3659 section 7.2: the facts of one file or folder, on the control connection."""
        real, virtual = self.get_paths(connection, rest)
        line = await describe(connection, real, virtual, str(virtual))
        connection.response("250", [f"listing {virtual}", line, "end"], True)
        return True

    @ConnectionConditions(
        ConnectionConditions.login_required, ConnectionConditions.passive_server_started
    )
    @PathConditions(PathConditions.path_must_exists)
    @PathPermissions(PathPermissions.readable)
    async def mlsd(self: aioftp.Server, connection: Connection, rest: str | PurePosixPath) -> bool:
        """RFC 3659 section 7.2: the facts of a folder's entries, on the data connection."""

        @ConnectionConditions(
            ConnectionConditions.data_connection_made,
            wait=True,
            fail_code="425",
            fail_info="cannot open the data connection",
        )
        @worker
        async def mlsd_worker(self: aioftp.Server, connection: Connection, rest: Any) -> bool:
            stream = connection.data_connection
            del connection.data_connection
            async with stream:
                async for path in connection.path_io.list(real):
                    # Links leading out of the served folder (and dangling ones) do not exist.
                    if not await connection.path_io.exists(path):
                        continue
                    try:
                        line = await describe(connection, path, virtual / path.name, path.name)
                    except errors.PathIOError:
                        continue  # removed while listing
                    await stream.write((line + END_OF_LINE).encode(self.encoding))
            connection.response("226", "listing sent")
            return True

        real, virtual = self.get_paths(connection, rest)
        if not await connection.path_io.is_dir(real):
            connection.response("501", "not a folder (MLST describes a file)")
            return True
        task: asyncio.Future[Any] = asyncio.ensure_future(mlsd_worker(self, connection, rest))
        connection.extra_workers.add(task)
        connection.response("150", "sending the listing")
        return True


def selected_facts(connection: Connection) -> tuple[str, ...]:
    """The MLST facts this session asked for (``OPTS MLST``); all of them by default."""
    future = connection.get("mlst_facts")
    if future is not None and future.done():
        chosen: tuple[str, ...] = future.result()
        return chosen
    return FACTS


def utc(seconds: float) -> str:
    """A time as RFC 3659 writes it: ``YYYYMMDDHHMMSS``, UTC."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))


async def describe(connection: Connection, real: Path, virtual: PurePosixPath, name: str) -> str:
    """One MLSx line: ``fact=value;...; name`` with the session's selected facts."""
    stats = await connection.path_io.stat(real)
    mode = stats.st_mode
    is_dir = stat.S_ISDIR(mode)
    facts: dict[str, str] = {}
    if is_dir:
        facts["type"] = "dir"
    elif stat.S_ISREG(mode):
        facts["type"] = "file"
        facts["size"] = str(stats.st_size)
    else:
        facts["type"] = "OS.unix=" + _SPECIAL.get(stat.S_IFMT(mode), "unknown")
    facts["modify"] = utc(stats.st_mtime)
    allowed = await connection.user.get_permissions(virtual)
    facts["perm"] = _perm(mode, allowed.readable, allowed.writable, virtual == ROOT)
    facts["unique"] = f"{stats.st_dev:x}g{stats.st_ino:x}"
    chosen = selected_facts(connection)
    listed = "".join(f"{fact}={facts[fact]};" for fact in chosen if fact in facts)
    return f"{listed} {name}"


def _perm(mode: int, readable: bool, writable: bool, is_root: bool) -> str:
    letters = ""
    if stat.S_ISDIR(mode):
        # e: CWD, l: LIST; c: create files, m: MKD, p: remove entries; d, f: RMD, rename it
        letters += "el" if readable else ""
        letters += ("cmp" + ("" if is_root else "df")) if writable else ""
    elif stat.S_ISREG(mode):
        # r: RETR; a: APPE, d: DELE, f: rename, w: STOR
        letters += "r" if readable else ""
        letters += "adfw" if writable else ""
    elif writable:
        letters += "f"  # a fifo or device can only be renamed (RETR and DELE take files)
    return "".join(sorted(letters))
