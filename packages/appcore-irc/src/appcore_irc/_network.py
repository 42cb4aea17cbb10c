"""The server's shared state (clients, nicknames, channels, history) and the command table.

Replies follow RFC 2812's numerics. The commands live by subject: registration
(:mod:`._registration`), passwords (:mod:`._logins`), channels (:mod:`._channels`),
modes (:mod:`._modes`), messages (:mod:`._messaging`) and queries (:mod:`._queries`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from appcore_irc import _channels, _logins, _messaging, _modes, _queries, _registration
from appcore_irc._channel import Channel
from appcore_irc._client import Client
from appcore_irc._messages import Message, casefold
from appcore_irc._queries import History

logger = logging.getLogger("appcore.irc")

Command = Callable[["Network", Client, tuple[str, ...]], None]
#: Threads that check passwords: each scrypt check takes tens of MiB, so a few at a time.
PASSWORD_WORKERS = 2


class Network:
    """Everything one running server knows; made afresh at each start (never persisted)."""

    #: Seconds between liveness checks (a PING, or the end of the registration wait).
    ping_interval = 120.0

    def __init__(
        self,
        name: str,
        *,
        motd: str | None,
        max_clients: int,
        flood_rate: float,
        flood_burst: int,
        version: str,
        description: str = "appcore IRC server",
        opers: str | None = None,
        password_file: str | None = None,
    ) -> None:
        self.name = name
        self.motd = motd
        self.max_clients = max_clients
        self.flood_rate = flood_rate
        self.flood_burst = flood_burst
        self.version = version
        self.description = description
        self.opers = opers
        self.password_file = password_file
        self.created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        self.clients: set[Client] = set()
        self.nicks: dict[str, Client] = {}
        self.channels: dict[str, Channel] = {}
        self.history = History()
        self.max_users = 0  # most registered clients at once (LUSERS)
        self._workers: ThreadPoolExecutor | None = None

    def build_client(self) -> Client:
        return Client(self)

    def workers(self) -> ThreadPoolExecutor:
        """The threads password checks run in (made on first use)."""
        if self._workers is None:
            self._workers = ThreadPoolExecutor(PASSWORD_WORKERS, "appcore-irc-passwords")
        return self._workers

    # --- membership

    def admit(self, client: Client) -> bool:
        if len(self.clients) >= self.max_clients:
            return False
        self.clients.add(client)
        return True

    def forget(self, client: Client) -> None:
        self.clients.discard(client)
        if client.nick is not None and self.nicks.get(casefold(client.nick)) is client:
            del self.nicks[casefold(client.nick)]
            self.history.record(client)
        for channel in list(client.channels.values()):
            self.remove_member(client, channel)

    def remove_member(self, client: Client, channel: Channel) -> None:
        channel.members.pop(client, None)
        key = casefold(channel.name)
        client.channels.pop(key, None)
        if not channel.members:
            self.channels.pop(key, None)

    def find(self, nick: str) -> Client | None:
        """The registered client using ``nick``, if any."""
        client = self.nicks.get(casefold(nick))
        return client if client is not None and client.registered else None

    def peers_of(self, client: Client) -> set[Client]:
        """Everyone sharing a channel with ``client`` (not ``client`` itself)."""
        peers: set[Client] = set()
        for channel in client.channels.values():
            peers.update(channel.members)
        peers.discard(client)
        return peers

    def shutdown(self, reason: str) -> None:
        """Disconnect every client with ``reason`` (the service is stopping)."""
        for client in list(self.clients):
            client.quit(reason, tell_others=False)
        if self._workers is not None:
            self._workers.shutdown(wait=False, cancel_futures=True)

    # --- commands

    def dispatch(self, client: Client, message: Message) -> None:
        entry = COMMANDS.get(message.command)
        if entry is None:
            if client.registered:
                client.numeric("421", message.command, "Unknown command")
            else:
                client.numeric("451", "You have not registered")
            return
        run, needed, before_registration = entry
        if not client.registered and not before_registration:
            client.numeric("451", "You have not registered")
        elif len(message.params) < needed:
            client.numeric("461", message.command, "Not enough parameters")
        else:
            run(self, client, message.params)

    def welcome(self, client: Client) -> None:
        _registration.welcome(self, client)
        logger.info("irc: %s registered as %s", client.host, client.nick)


# command -> (function, parameters needed, allowed before registration)
COMMANDS: dict[str, tuple[Command, int, bool]] = {
    "NICK": (_registration.nick, 0, True),
    "USER": (_registration.user, 0, True),  # checks its parameters itself: 462 before 461
    "PASS": (_logins.password, 1, True),
    "PING": (_registration.ping, 0, True),
    "PONG": (_registration.pong, 0, True),
    "QUIT": (_registration.quit_, 0, True),
    "CAP": (_registration.capabilities, 1, True),
    "MOTD": (_registration.send_motd, 0, False),
    "OPER": (_logins.oper, 2, False),
    "PRIVMSG": (lambda n, c, p: _messaging.message(n, c, p, "PRIVMSG"), 0, False),
    "NOTICE": (lambda n, c, p: _messaging.message(n, c, p, "NOTICE"), 0, False),
    "AWAY": (_messaging.away, 0, False),
    "WALLOPS": (_messaging.wallops, 1, False),
    "JOIN": (_channels.join, 1, False),
    "PART": (_channels.part, 1, False),
    "TOPIC": (_channels.topic, 1, False),
    "NAMES": (_channels.names, 0, False),
    "LIST": (_channels.list_, 0, False),
    "KICK": (_channels.kick, 2, False),
    "INVITE": (_channels.invite, 0, False),
    "MODE": (_modes.mode, 1, False),
    "WHO": (_queries.who, 0, False),
    "WHOIS": (_queries.whois, 1, False),
    "WHOWAS": (_queries.whowas, 0, False),
    "USERHOST": (_queries.userhost, 1, False),
    "ISON": (_queries.ison, 1, False),
    "LUSERS": (_queries.lusers, 0, False),
    "INFO": (_queries.info, 0, False),
    "LINKS": (_queries.links, 0, False),
    "TIME": (_queries.time_, 0, False),
    "VERSION": (_queries.version, 0, False),
}
