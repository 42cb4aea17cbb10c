"""The ``echo`` server type, built in as the reference example of a server-type plugin.

A plugin declares its type with a light :class:`~appcore.ServiceMaker` (names, description,
options) registered under the ``appcore.service_makers`` entry-point group, and a
``make_service(options)`` in the module the maker names; that module is imported only when a
service is made, so listing server types stays fast. This one uses appcore's public API only,
as a third-party plugin would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from appcore.plugins._discovery import ServiceMaker
from appcore.plugins._options import Option, Options

if TYPE_CHECKING:
    from appcore import MultiService

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
    module="appcore.plugins._echo",
    persistable_modules=("appcore",),
)


def make_service(options: Mapping[str, Any]) -> MultiService:
    """One MultiService holding a server per ``--listen`` endpoint, sharing one factory."""
    from appcore import (
        DatagramServerService,
        EchoDatagramFactory,
        EchoFactory,
        MultiService,
        StreamServerService,
        UsageError,
    )

    listen: tuple[str, ...] = options["listen"] or ("tcp:8007",)
    root = MultiService("echo")
    stream_factory = EchoFactory()
    datagram_factory = EchoDatagramFactory()
    for description in listen:
        if description.startswith("udp:"):
            DatagramServerService(description, datagram_factory).set_service_parent(root)
        elif description.split(":", 1)[0] in {"tcp", "tcp6", "unix", "ssl", "systemd"} or (
            description.isdigit()
        ):
            StreamServerService(description, stream_factory).set_service_parent(root)
        else:
            raise UsageError(f"--listen {description!r}: not a server endpoint")
    return root
