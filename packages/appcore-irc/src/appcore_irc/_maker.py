"""The irc server type declaration: names, options and where the code lives.

Light on purpose: listing server types imports this, never the server code.
"""

from __future__ import annotations

from pathlib import Path

from appcore import Option, Options, ServiceMaker

irc = ServiceMaker(
    tapname="irc",
    description="An IRC server (RFC 1459/2812): channels and their modes, messages, queries, "
    "operators, a server password.",
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
            "description",
            str,
            help="what LINKS, WHOIS and INFO say about the server",
            metavar="TEXT",
        ),
        Option(
            "opers",
            Path,
            help="IRC operators for OPER: a password file of NAME:HASH lines (scrypt hashes, "
            "see appcore.password_line), read at every OPER",
            metavar="FILE",
        ),
        Option(
            "password_file",
            Path,
            help="server password: a password file; a client's PASS must match one of its "
            "entries (the names are labels), read at every connection",
            metavar="FILE",
        ),
        Option(
            "max_clients",
            int,
            default=1000,
            help="connections served at once",
            at_least=1,
        ),
        Option(
            "flood_rate",
            float,
            default=2.0,
            help="lines per second a client may send in the long run",
            metavar="NUMBER",
            more_than=0,
        ),
        Option(
            "flood_burst",
            int,
            default=20,
            help="lines a client may send in a burst before the rate applies",
            at_least=1,
        ),
    ),
    module="appcore_irc._service",
    persistable_modules=("appcore_irc",),
)
