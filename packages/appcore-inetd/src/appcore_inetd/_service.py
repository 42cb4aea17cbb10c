"""The ``inetd`` server type: the services of an ``inetd.conf`` file, one child each.

The file is read when the service is made (``mktap inetd``): the application file then
holds the resulting services, each an ordinary child of an ``inetd`` MultiService named
``NAME/PROTO`` (``echo/tcp``), which the manhole or a TAX edit can change like any other.
See :mod:`._conf` for the file format and :mod:`._programs` for how programs are run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from appcore import DatagramServerService, MultiService, Service, StreamServerService
from appcore_inetd._conf import Entry, read_conf
from appcore_inetd._internal import DATAGRAM_FACTORIES, STREAM_FACTORIES
from appcore_inetd._programs import ProgramService


class InetdService(MultiService):
    """The services of one inetd.conf file; ``conf_file`` records where they came from."""

    __module__ = "appcore_inetd"  # persisted under its public name

    def __init__(self, conf_file: str, interface: str, name: str | None = None) -> None:
        super().__init__(name)
        self.conf_file = conf_file
        self.interface = interface


def _endpoint(entry: Entry, interface: str) -> str:
    spelled = interface.replace(":", "\\:")
    return f"{entry.protocol}:{entry.port}:interface={spelled}"


def service_for(entry: Entry, interface: str) -> Service:
    """The service running one inetd.conf entry on ``interface``."""
    endpoint = _endpoint(entry, interface)
    name = f"{entry.name}/{entry.protocol}"
    if entry.internal is not None:
        if entry.protocol == "udp":
            return DatagramServerService(endpoint, DATAGRAM_FACTORIES[entry.internal](), name)
        return StreamServerService(endpoint, STREAM_FACTORIES[entry.internal](), name)
    return ProgramService(
        endpoint,
        entry.program,
        entry.argv,
        wait=entry.wait,
        user=entry.user,
        group=entry.group,
        max_children=entry.max_children,
        name=name,
    )


def make_service(options: Mapping[str, Any]) -> InetdService:
    """The service for ``mktap inetd`` / ``twistd inetd``."""
    conf = Path(options["file"]).resolve()
    interface: str = options["interface"]
    root = InetdService(str(conf), interface)
    for entry in read_conf(conf):
        service_for(entry, interface).set_service_parent(root)
    return root
