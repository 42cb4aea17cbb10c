"""The ``telnet`` server type: a Python prompt inside the running application, over telnet.

``TelnetManholeService`` is a stream server whose factory knows the service, hence the
tree it belongs to: each login gets a fresh namespace with ``app`` (the root of the tree),
``services`` (see :mod:`._namespace`) and ``manhole`` (this service). Only configuration is
saved (the endpoint, the password file's path, the login limits); sessions are runtime.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from appcore import Factory, StreamServerService, UsageError
from appcore_manhole._endpoint import loopback_by_default
from appcore_manhole._maker import telnet as telnet_maker
from appcore_manhole._namespace import make_namespace

DEFAULT_LISTEN = "tcp:4040:interface=127.0.0.1"


class TelnetManholeFactory(Factory):
    """Builds a telnet manhole protocol per connection."""

    __module__ = "appcore_manhole"  # persisted under its public name

    def __init__(
        self,
        service: TelnetManholeService,
        password_file: str,
        *,
        attempts: int = 3,
        failure_delay: float = 1.0,
    ) -> None:
        self.service = service
        self.password_file = password_file
        self.attempts = attempts
        self.failure_delay = failure_delay

    def _validate(self) -> None:
        telnet_maker.options.check_loaded(self, "attempts", "failure_delay")

    def build_protocol(self) -> asyncio.BaseProtocol:
        from appcore_manhole._telnet import TelnetManholeProtocol

        return TelnetManholeProtocol(self)

    def namespace(self, user: str, session: object = None) -> dict[str, Any]:
        """A fresh namespace for a session of ``user`` (``session``: its connection)."""
        return make_namespace(self.service, [("user", user), ("session", session)])


class TelnetManholeService(StreamServerService):
    """A telnet manhole listening on ``endpoint``; logins checked against ``password_file``."""

    __module__ = "appcore_manhole"  # persisted under its public name

    def __init__(
        self,
        endpoint: str,
        password_file: str,
        name: str | None = None,
        *,
        attempts: int = 3,
        failure_delay: float = 1.0,
    ) -> None:
        factory = TelnetManholeFactory(
            self, password_file, attempts=attempts, failure_delay=failure_delay
        )
        super().__init__(loopback_by_default(endpoint), factory, name)


def make_service(options: Mapping[str, Any]) -> TelnetManholeService:
    """The service for ``mktap telnet`` / ``twistd telnet``."""
    from appcore import read_password_file

    password_file = Path(options["passwords"]).resolve()
    read_password_file(password_file)  # a missing or malformed file fails now, not at login
    if options["attempts"] < 1:
        raise UsageError("--attempts must be at least 1")
    return TelnetManholeService(
        options["listen"],
        str(password_file),
        attempts=options["attempts"],
        failure_delay=options["failure_delay"],
    )
