"""The ftp server type declaration: names, options and where the code lives.

Light on purpose: listing server types imports this, never the server code.
"""

from __future__ import annotations

from pathlib import Path

from appcore import Option, Options, ServiceMaker, login_timeout_option


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
            help="seconds a control connection may stay silent (0: no limit)",
            metavar="SECONDS",
            at_least=0,
        ),
        login_timeout_option(),
    ),
    module="appcore_ftp._service",
    persistable_modules=("appcore_ftp",),
)
