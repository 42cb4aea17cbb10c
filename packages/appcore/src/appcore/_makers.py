"""Light declarations of appcore's built-in server types (registered as entry points).

Each declaration names the module holding its server code; that module is imported only when
a service is made, so listing server types stays fast.
"""

from __future__ import annotations

from ._options import Option, Options
from ._plugins import ServiceMaker

echo = ServiceMaker(
    tapname="echo",
    description="An echo server (RFC 862) on TCP, UDP or unix endpoints.",
    options=Options(
        Option(
            "listen",
            list[str],
            help="endpoint to serve, e.g. tcp:8007:interface=127.0.0.1 or udp:8007 "
            "(repeatable; default tcp:8007)",
            short="l",
            metavar="ENDPOINT",
        ),
    ),
    module="appcore.servers.echo",
    persistable_modules=("appcore",),
)
