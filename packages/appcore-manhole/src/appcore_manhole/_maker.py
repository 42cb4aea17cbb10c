"""The telnet, ssh-manhole server type declarations: names, options and where the code lives.

Light on purpose: listing server types imports this, never the server code.
"""

from __future__ import annotations

from pathlib import Path

from appcore import Option, Options, ServiceMaker, login_timeout_option

telnet = ServiceMaker(
    tapname="telnet",
    description="A manhole: a Python prompt inside the running application, over telnet.",
    options=Options(
        Option(
            "listen",
            str,
            default="tcp:4040:interface=127.0.0.1",
            help="endpoint to listen on; without an interface it listens on 127.0.0.1 only, "
            "a unix socket without a mode gets mode 600",
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
        Option("attempts", int, default=3, help="failed logins before hanging up", at_least=1),
        Option(
            "failure_delay",
            float,
            default=1.0,
            help="seconds to wait after a failed login",
            at_least=0,
        ),
        login_timeout_option(),
    ),
    module="appcore_manhole.telnet",
    persistable_modules=("appcore_manhole",),
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
            help="endpoint to listen on; without an interface it listens on 127.0.0.1 only, "
            "a unix socket without a mode gets mode 600",
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
        login_timeout_option(),
    ),
    module="appcore_manhole.ssh",
    persistable_modules=("appcore_manhole",),
)
