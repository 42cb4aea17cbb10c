"""Light declarations of the ftp, irc and portforward server types (registered as entry points).

As in :mod:`appcore._makers`, only names, descriptions and options live here; each type's
server code is imported when a service is made.
"""

from __future__ import annotations

from pathlib import Path

from appcore.plugins._discovery import ServiceMaker
from appcore.plugins._options import Option, Options


def _port_range(text: str) -> str:
    """``LOW-HIGH`` (or one port) with 1 <= LOW <= HIGH <= 65535, returned normalized."""
    low, sep, high = text.strip().partition("-")
    try:
        first = int(low)
        last = int(high) if sep else first
    except ValueError:
        raise ValueError(f"expected a port range LOW-HIGH, got {text!r}") from None
    if not 1 <= first <= last <= 65535:
        raise ValueError(f"port range {text!r} must satisfy 1 <= LOW <= HIGH <= 65535")
    return f"{first}-{last}"


def _positive(value: int) -> int:
    if value < 1:
        raise ValueError(f"must be at least 1, not {value}")
    return value


def _tcp_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"port must be from 1 to 65535, not {value}")
    return value


def _ipv4(text: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise ValueError(f"expected an IPv4 address, got {text!r}") from None


ftp = ServiceMaker(
    tapname="ftp",
    description="An FTP server on a folder: anonymous read-only, named users from a password file.",
    options=Options(
        Option("root", Path, help="folder to serve (clients cannot leave it)", required=True),
        Option(
            "listen",
            str,
            default="tcp:2121",
            help="endpoint to serve, e.g. tcp:2121:interface=127.0.0.1",
            short="l",
            metavar="ENDPOINT",
        ),
        Option(
            "passwd",
            Path,
            help="password file of named users (NAME:$scrypt$... lines, see appcore._passwords)",
            metavar="FILE",
        ),
        Option(
            "anonymous",
            bool,
            default=True,
            help="allow anonymous (user anonymous or ftp) read-only logins",
        ),
        Option("writable", bool, default=False, help="let named users upload, rename, delete"),
        Option(
            "passive_ports",
            str,
            help="ports for passive data connections, LOW-HIGH (default: any free port)",
            metavar="RANGE",
            validate=_port_range,
        ),
        Option(
            "masquerade",
            str,
            help="IPv4 address announced in PASV replies (a server behind NAT)",
            metavar="ADDRESS",
            validate=_ipv4,
        ),
        Option(
            "idle_timeout",
            float,
            default=300.0,
            help="seconds a control connection may stay silent",
            metavar="SECONDS",
        ),
    ),
    module="appcore.servers.ftp",
    persistable_modules=("appcore",),
)

irc = ServiceMaker(
    tapname="irc",
    description="An IRC server (RFC 1459/2812 core): channels, messages, topics, modes, MOTD.",
    options=Options(
        Option(
            "listen",
            str,
            default="tcp:6667",
            help="endpoint to serve, e.g. tcp:6667:interface=127.0.0.1",
            short="l",
            metavar="ENDPOINT",
        ),
        Option("name", str, default="irc.localhost", help="the server's name"),
        Option("motd", Path, help="message-of-the-day file (read at every MOTD)", metavar="FILE"),
        Option(
            "max_clients",
            int,
            default=1000,
            help="connections served at once",
            validate=_positive,
        ),
        Option(
            "flood_rate",
            float,
            default=2.0,
            help="lines per second a client may send in the long run",
            metavar="NUMBER",
        ),
        Option(
            "flood_burst",
            int,
            default=20,
            help="lines a client may send in a burst before the rate applies",
            validate=_positive,
        ),
    ),
    module="appcore.servers.irc",
    persistable_modules=("appcore",),
)

portforward = ServiceMaker(
    tapname="portforward",
    description="Forward connections to another host and port, with backpressure.",
    options=Options(
        Option(
            "listen",
            str,
            default="tcp:6666",
            help="endpoint to accept connections on",
            short="l",
            metavar="ENDPOINT",
        ),
        Option(
            "dest",
            str,
            help="client endpoint to forward to, e.g. tcp:host=example.org:port=80",
            short="d",
            metavar="ENDPOINT",
        ),
        Option("host", str, default="localhost", help="destination host (with --port)"),
        Option("port", int, help="destination port (instead of --dest)", validate=_tcp_port),
        Option(
            "buffer_size",
            int,
            default=64 * 1024,
            help="bytes buffered per direction before reading pauses",
            metavar="BYTES",
        ),
    ),
    module="appcore.servers.portforward",
    persistable_modules=("appcore",),
)
