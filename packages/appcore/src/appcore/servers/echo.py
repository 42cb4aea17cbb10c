"""The ``echo`` server type: RFC 862 echo over TCP (and optionally UDP) on given endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import UsageError
from .._net_server import DatagramServerService, StreamServerService
from .._protocols import EchoDatagramFactory, EchoFactory
from .._service import MultiService


def make_service(options: Mapping[str, Any]) -> MultiService:
    """One MultiService holding a server per ``--listen`` endpoint, sharing one factory."""
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
