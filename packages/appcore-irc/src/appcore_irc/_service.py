"""The ``irc`` server type: an IRC server (RFC 1459 and RFC 2812, one server) on asyncio.

Clients register with NICK and USER (after PASS when the server has a password) and get the
welcome burst (001-005) and the MOTD. They JOIN, PART, LIST and INVITE to channels (``#``
or ``&``), talk with PRIVMSG and NOTICE, set TOPIC and AWAY, and ask NAMES, WHO, WHOIS,
WHOWAS, LUSERS, INFO and LINKS. Channel operators KICK and use MODE: flags ``+i +m +n +p
+s +t``, a key ``+k``, a user limit ``+l``, bans ``+b``, and ``+o``/``+v`` for members. IRC
operators (OPER, from a password file) send WALLOPS to users with ``+w``. PING and PONG keep
connections alive. Flooding clients are throttled, then disconnected (see :mod:`._client`);
malformed or overlong lines are answered or ignored, never fatal.

One server is one network: there are no server links and no services.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from appcore import (
    DataError,
    Factory,
    NoInputError,
    StreamServerService,
    UsageError,
    read_password_file,
)
from appcore_irc._maker import irc

if TYPE_CHECKING:
    from appcore_irc._network import Network

#: What LINKS, WHOIS and INFO say about the server when ``--description`` is not given.
DEFAULT_DESCRIPTION = "appcore IRC server"
#: Longest ``--description``.
DESCRIPTION_LENGTH = 100


class IRCFactory(Factory):
    """The server's configuration; the live network state is made at each start."""

    __module__ = "appcore_irc"  # persisted under its public name

    #: 2: ``description``, ``opers`` and ``password_file`` (files of version 1 lack them).
    persistence_version: ClassVar[int] = 2
    _transient: ClassVar[tuple[str, ...]] = ("_network",)
    _network: Network | None = None

    def __init__(
        self,
        name: str = "irc.localhost",
        *,
        motd: str | None = None,
        max_clients: int = 1000,
        flood_rate: float = 2.0,
        flood_burst: int = 20,
        description: str = DEFAULT_DESCRIPTION,
        opers: str | None = None,
        password_file: str | None = None,
    ) -> None:
        self.name = name
        self.motd = motd
        self.max_clients = max_clients
        self.flood_rate = flood_rate
        self.flood_burst = flood_burst
        self.description = description
        self.opers = opers
        self.password_file = password_file

    def _validate(self) -> None:
        irc.options.check_loaded(self, "max_clients", "flood_rate", "flood_burst")

    def __repr__(self) -> str:
        return f"<IRCFactory {self.name!r}>"

    def upgrade_to_2(self) -> None:
        """A version 1 file: no description given, no operators, no server password."""
        self.description = DEFAULT_DESCRIPTION
        self.opers = None
        self.password_file = None

    @property
    def network(self) -> Network:
        """The state of the current run (made on first use)."""
        if self._network is None:
            from importlib.metadata import PackageNotFoundError, version

            from appcore_irc._network import Network

            try:
                release = "appcore-" + version("appcore")
            except PackageNotFoundError:
                release = "appcore"
            self._network = Network(
                self.name,
                motd=self.motd,
                max_clients=self.max_clients,
                flood_rate=self.flood_rate,
                flood_burst=self.flood_burst,
                version=release,
                description=self.description,
                opers=self.opers,
                password_file=self.password_file,
            )
        return self._network

    def build_protocol(self) -> asyncio.BaseProtocol:
        return self.network.build_client()

    def release(self) -> Network | None:
        """Forget the current run's state and return it (for shutting down)."""
        network, self._network = self._network, None
        return network


class IRCServerService(StreamServerService):
    """A stream server for an :class:`IRCFactory`; stopping says goodbye to every client."""

    __module__ = "appcore_irc"  # persisted under its public name

    factory: IRCFactory

    def start_service(self) -> Awaitable[None]:
        self.factory.release()  # nobody is connected at a start: begin with a fresh network
        return super().start_service()

    def stop_service(self) -> Awaitable[None] | None:
        network = self.factory.release()
        if network is not None:
            network.shutdown("Server shutting down")
        return super().stop_service()


def make_service(options: Mapping[str, Any]) -> IRCServerService:
    """An IRC server on ``--listen`` (see the module docs)."""
    name: str = options.get("name") or "irc.localhost"
    # A server name is a host name with a dot, so it can never be taken for a nickname.
    if "." not in name or not all(c.isascii() and (c.isalnum() or c in ".-") for c in name):
        raise UsageError(f"--name {name!r}: expected a host name such as irc.example.org")
    motd = options.get("motd")
    if motd is not None and not Path(motd).expanduser().is_file():
        raise NoInputError(f"--motd {motd}: no such file")
    flood_rate = float(options.get("flood_rate") or 2.0)
    if flood_rate <= 0:
        raise UsageError(f"--flood-rate must be above 0, not {flood_rate}")
    description = str(options.get("description") or DEFAULT_DESCRIPTION)
    if len(description) > DESCRIPTION_LENGTH or not description.isprintable():
        raise UsageError(f"--description: at most {DESCRIPTION_LENGTH} printable characters")
    factory = IRCFactory(
        name,
        motd=str(Path(motd).expanduser().absolute()) if motd is not None else None,
        max_clients=int(options.get("max_clients") or 1000),
        flood_rate=flood_rate,
        flood_burst=int(options.get("flood_burst") or 20),
        description=description,
        opers=_password_file(options, "opers"),
        password_file=_password_file(options, "password_file"),
    )
    listen: str = options.get("listen") or "tcp:6667"
    return IRCServerService(listen, factory, name="irc")


def _password_file(options: Mapping[str, Any], option: str) -> str | None:
    """The absolute path of a password file option, read once now: a missing or malformed
    file fails when the application is made, not at the first login."""
    given = options.get(option)
    if given is None:
        return None
    path = Path(given).expanduser().absolute()
    flag = "--" + option.replace("_", "-")
    try:
        read_password_file(path)
    except (NoInputError, DataError) as err:
        raise type(err)(f"{flag}: {err}") from None
    return str(path)
