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
from typing import Any, ClassVar

from appcore import LOGIN_TIMEOUT, Factory, LoginThrottle, StreamServerService, UsageError
from appcore_manhole._endpoint import loopback_by_default
from appcore_manhole._maker import telnet as telnet_maker
from appcore_manhole._namespace import make_namespace

DEFAULT_LISTEN = "tcp:4040:interface=127.0.0.1"


class TelnetManholeFactory(Factory):
    """Builds a telnet manhole protocol per connection.

    Failed logins are limited per source address across all connections (see
    :class:`~appcore.LoginThrottle`), and a connection not logged in within
    :attr:`login_timeout` seconds is closed.
    """

    __module__ = "appcore_manhole"  # persisted under its public name

    _transient: ClassVar[tuple[str, ...]] = ("_throttle",)
    _throttle: LoginThrottle | None = None
    #: Seconds a connection has to log in (files saved before it existed get this too).
    login_timeout: float = LOGIN_TIMEOUT

    def __init__(
        self,
        service: TelnetManholeService,
        password_file: str,
        *,
        attempts: int = 3,
        failure_delay: float = 1.0,
        login_timeout: float = LOGIN_TIMEOUT,
    ) -> None:
        self.service = service
        self.password_file = password_file
        self.attempts = attempts
        self.failure_delay = failure_delay
        self.login_timeout = login_timeout

    @property
    def throttle(self) -> LoginThrottle:
        """The failed-login limits of this factory's connections (runtime state)."""
        if self._throttle is None:
            self._throttle = LoginThrottle()
        return self._throttle

    def _validate(self) -> None:
        telnet_maker.options.check_loaded(self, "attempts", "failure_delay", "login_timeout")

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
        login_timeout: float = LOGIN_TIMEOUT,
    ) -> None:
        factory = TelnetManholeFactory(
            self,
            password_file,
            attempts=attempts,
            failure_delay=failure_delay,
            login_timeout=login_timeout,
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
        login_timeout=options.get("login_timeout") or LOGIN_TIMEOUT,
    )
