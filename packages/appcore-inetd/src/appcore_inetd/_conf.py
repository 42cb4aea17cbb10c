"""Reading an ``inetd.conf`` file into entries.

One service a line, fields separated by blanks::

    # name    socket  proto  wait    user[:group]  program        argv (argv[0] first)
    daytime   stream  tcp    nowait  root          internal
    7001      stream  tcp    nowait  nobody        internal       echo
    finger    stream  tcp    nowait  nobody        /usr/sbin/in.fingerd  in.fingerd -w

``name`` is a service name from ``/etc/services`` or a port number. ``socket`` is ``stream``
or ``dgram``; ``proto`` is ``tcp`` or ``udp`` (``tcp4``/``udp4`` too). ``wait``/``nowait``
may carry a ``.MAX`` suffix (at most MAX programs of this entry at once; default 256).
``user`` may be ``user:group`` or ``user.group``. ``internal`` runs a built-in service
(echo, discard, daytime, time, chargen): the one named by the first argument, or else by
the service name. Programs are absolute paths; their argument list starts with argv[0] (the
program's path is used when no arguments are given).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from appcore import DataError, NoInputError, describe_os_error

INTERNAL_SERVICES = ("echo", "discard", "daytime", "time", "chargen")
DEFAULT_MAX_CHILDREN = 256
_PROTOCOLS = {"tcp": "tcp", "tcp4": "tcp", "udp": "udp", "udp4": "udp"}
_SOCKETS = {"stream": "tcp", "dgram": "udp"}


@dataclass(frozen=True)
class Entry:
    """One line of an inetd.conf file, checked and resolved."""

    line: int
    name: str
    socket_type: str  # "stream" or "dgram"
    protocol: str  # "tcp" or "udp"
    port: int
    wait: bool
    max_children: int
    user: str
    group: str | None
    program: str  # an absolute path, or "internal"
    argv: tuple[str, ...]
    internal: str | None  # the internal service, when program is "internal"


def read_conf(path: str | os.PathLike[str]) -> list[Entry]:
    """Every entry of an inetd.conf file; :class:`DataError` naming the bad line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise NoInputError(f"cannot read {describe_os_error(err)}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text") from None
    entries: list[Entry] = []
    seen: dict[tuple[int, str], int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            entry = parse_line(line, number)
        except ValueError as err:
            raise DataError(f"{path}:{number}: {err}") from None
        key = (entry.port, entry.protocol)
        if key in seen:
            raise DataError(
                f"{path}:{number}: {entry.protocol} port {entry.port} is already used on "
                f"line {seen[key]}"
            )
        seen[key] = number
        entries.append(entry)
    if not entries:
        raise DataError(f"{path} defines no services")
    return entries


def parse_line(line: str, number: int = 0) -> Entry:
    """One entry from the text of a line; ``ValueError`` with the reason."""
    fields = line.split()
    if len(fields) < 6:
        raise ValueError("expected: name socket-type protocol wait/nowait user program [args...]")
    name, socket_type, protocol, wait_field, user_field, program, *args = fields
    if socket_type not in _SOCKETS:
        raise ValueError(f"socket type {socket_type!r} is not stream or dgram")
    if protocol not in _PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not tcp or udp")
    proto = _PROTOCOLS[protocol]
    if _SOCKETS[socket_type] != proto:
        raise ValueError(f"{socket_type} does not go with {protocol}")
    wait, max_children = _wait(wait_field)
    user, group = _user(user_field)
    port = resolve_port(name, proto)
    internal: str | None = None
    if program == "internal":
        internal = args[0] if args else name
        if internal not in INTERNAL_SERVICES:
            raise ValueError(
                f"no internal service {internal!r} (one of {', '.join(INTERNAL_SERVICES)}; "
                "name it after 'internal' when the service name is a number)"
            )
        argv: tuple[str, ...] = ()
    else:
        if not os.path.isabs(program):
            raise ValueError(f"program {program!r} must be an absolute path or 'internal'")
        if socket_type == "dgram" and not wait:
            raise ValueError("a dgram program must be 'wait' (it is handed the socket)")
        argv = tuple(args) if args else (program,)
    return Entry(
        number,
        name,
        socket_type,
        proto,
        port,
        wait,
        max_children,
        user,
        group,
        program,
        argv,
        internal,
    )


def resolve_port(name: str, protocol: str) -> int:
    """A port number, or a service name looked up in ``/etc/services``."""
    if name.isdigit():
        port = int(name)
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is out of range")
        return port
    try:
        return socket.getservbyname(name, protocol)
    except OSError:
        raise ValueError(f"unknown service {name!r}/{protocol} (not in /etc/services)") from None


def _wait(field: str) -> tuple[bool, int]:
    mode, _, limit = field.partition(".")
    if mode not in ("wait", "nowait"):
        raise ValueError(f"{field!r} is not wait or nowait")
    if not limit:
        return mode == "wait", DEFAULT_MAX_CHILDREN
    if not limit.isdigit() or int(limit) < 1:
        raise ValueError(f"{field!r}: the limit after the dot must be a positive number")
    return mode == "wait", int(limit)


def _user(field: str) -> tuple[str, str | None]:
    for separator in (":", "."):
        if separator in field:
            user, group = field.split(separator, 1)
            break
    else:
        user, group = field, None
    if not user or group == "":
        raise ValueError(f"bad user field {field!r}")
    import grp
    import pwd

    try:
        pwd.getpwnam(user)
    except KeyError:
        raise ValueError(f"no user named {user!r}") from None
    if group is not None:
        try:
            grp.getgrnam(group)
        except KeyError:
            raise ValueError(f"no group named {group!r}") from None
    return user, group
