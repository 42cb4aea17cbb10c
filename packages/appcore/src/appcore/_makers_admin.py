"""Light declarations of the administration server types: the manholes and inetd.

Registered as entry points of appcore; each names the module holding its server code, which
is imported only when a service is made.
"""

from __future__ import annotations

from pathlib import Path

from appcore.plugins._discovery import ServiceMaker
from appcore.plugins._options import Option, Options


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError(f"must be more than 0, got {value}")
    return value


def _not_negative(value: float) -> float:
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


telnet = ServiceMaker(
    tapname="telnet",
    description="A manhole: a Python prompt inside the running application, over telnet.",
    options=Options(
        Option(
            "listen",
            str,
            default="tcp:4040:interface=127.0.0.1",
            help="endpoint to listen on; a tcp endpoint without an interface listens on "
            "127.0.0.1 only",
            short="l",
            metavar="ENDPOINT",
        ),
        Option(
            "passwords",
            Path,
            help="password file: NAME:HASH lines (scrypt hashes, see appcore._passwords)",
            short="p",
            metavar="FILE",
            required=True,
        ),
        Option(
            "attempts", int, default=3, help="failed logins before hanging up", validate=_positive
        ),
        Option(
            "failure_delay",
            float,
            default=1.0,
            help="seconds to wait after a failed login",
            validate=_not_negative,
        ),
    ),
    module="appcore.servers.manhole.telnet",
    persistable_modules=("appcore",),
)

ssh_manhole = ServiceMaker(
    tapname="ssh-manhole",
    description="A manhole over SSH: a Python prompt inside the running application, "
    "public-key logins.",
    options=Options(
        Option(
            "listen",
            str,
            default="tcp:4041:interface=127.0.0.1",
            help="endpoint to listen on; a tcp endpoint without an interface listens on "
            "127.0.0.1 only",
            short="l",
            metavar="ENDPOINT",
        ),
        Option(
            "authorized_keys",
            Path,
            help="OpenSSH authorized_keys file of the keys allowed to log in (any user name)",
            short="k",
            metavar="FILE",
            required=True,
        ),
        Option(
            "host_key",
            Path,
            default="manhole_host_key",
            help="the server's private host key; an Ed25519 key is generated there if missing",
            metavar="FILE",
        ),
    ),
    module="appcore.servers.manhole.ssh",
    persistable_modules=("appcore",),
)

inetd = ServiceMaker(
    tapname="inetd",
    description="An inetd replacement: programs and internal services (echo, discard, "
    "daytime, time, chargen) from an inetd.conf file.",
    options=Options(
        Option(
            "file",
            Path,
            default="/etc/inetd.conf",
            help="the inetd.conf file to read",
            short="f",
            metavar="FILE",
        ),
        Option(
            "interface",
            str,
            default="127.0.0.1",
            help="address every service listens on (0.0.0.0 for all)",
            short="i",
            metavar="ADDRESS",
        ),
    ),
    module="appcore.servers.inetd",
    persistable_modules=("appcore",),
)
