"""The server's shared state (clients, nicknames, channels) and the command table.

Replies follow RFC 2812's numerics: the welcome burst 001-005, MOTD 375/372/376 (or 422),
and the error numerics 401, 403, 404, 409, 411, 412, 421, 431, 432, 433, 442, 451, 461,
462, 482 where the RFC puts them.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Callable
from pathlib import Path

from appcore_irc import _channels
from appcore_irc._channels import CHANNEL_FLAGS, USER_FLAGS, Channel
from appcore_irc._client import Client
from appcore_irc._messages import (
    CHANNEL_LENGTH,
    NICK_LENGTH,
    TOPIC_LENGTH,
    Message,
    casefold,
    format_line,
    is_channel,
    valid_nick,
)

logger = logging.getLogger("appcore.irc")

Command = Callable[["Network", Client, tuple[str, ...]], None]
#: Most replies to one WHO.
WHO_LIMIT = 200
#: Most targets of one PRIVMSG or NOTICE.
TARGET_LIMIT = 4


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
    ) -> None:
        self.name = name
        self.motd = motd
        self.max_clients = max_clients
        self.flood_rate = flood_rate
        self.flood_burst = flood_burst
        self.version = version
        self.created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        self.clients: set[Client] = set()
        self.nicks: dict[str, Client] = {}
        self.channels: dict[str, Channel] = {}

    def build_client(self) -> Client:
        return Client(self)

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
        for channel in list(client.channels.values()):
            self.remove_member(client, channel)

    def remove_member(self, client: Client, channel: Channel) -> None:
        channel.members.pop(client, None)
        key = casefold(channel.name)
        client.channels.pop(key, None)
        if not channel.members:
            self.channels.pop(key, None)

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

    # --- commands

    def dispatch(self, client: Client, message: Message) -> None:
        entry = COMMANDS.get(message.command)
        if entry is None:
            if client.registered:
                client.numeric("421", message.command, "Unknown command")
            else:
                client.numeric("451", "You have not registered")
            return
        handler, needed, before_registration = entry
        if not client.registered and not before_registration:
            client.numeric("451", "You have not registered")
        elif len(message.params) < needed:
            client.numeric("461", message.command, "Not enough parameters")
        else:
            handler(self, client, message.params)

    def welcome(self, client: Client) -> None:
        client.registered = True
        nick = client.nick or "*"
        client.numeric("001", f"Welcome to the Internet Relay Network {client.prefix}")
        client.numeric("002", f"Your host is {self.name}, running version {self.version}")
        client.numeric("003", f"This server was created {self.created}")
        client.numeric("004", self.name, self.version, USER_FLAGS, CHANNEL_FLAGS + "o", text=False)
        features = (
            f"CASEMAPPING=rfc1459 CHANTYPES=#& PREFIX=(o)@ CHANMODES=,,,{CHANNEL_FLAGS} "
            f"NICKLEN={NICK_LENGTH} CHANNELLEN={CHANNEL_LENGTH} TOPICLEN={TOPIC_LENGTH} "
            f"MAXTARGETS={TARGET_LIMIT}"
        ).split()
        client.numeric("005", *features, "are supported by this server")
        send_motd(self, client, ())
        logger.info("irc: %s registered as %s", client.host, nick)


def nick(network: Network, client: Client, params: tuple[str, ...]) -> None:
    wanted = params[0] if params else ""
    if not wanted:
        client.numeric("431", "No nickname given")
        return
    if not valid_nick(wanted):
        client.numeric("432", wanted, "Erroneous nickname")
        return
    key = casefold(wanted)
    holder = network.nicks.get(key)
    if holder is not None and holder is not client:
        client.numeric("433", wanted, "Nickname is already in use")
        return
    old_prefix = client.prefix
    if client.nick is not None:
        network.nicks.pop(casefold(client.nick), None)
    network.nicks[key] = client
    if client.registered:
        line = format_line(old_prefix, "NICK", wanted, text=False)
        for peer in network.peers_of(client) | {client}:
            peer.send_line(line)
    client.nick = wanted
    if not client.registered and client.user is not None:
        network.welcome(client)


def user(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if client.registered or client.user is not None:
        client.numeric("462", "You may not reregister")
        return
    if len(params) < 4:
        client.numeric("461", "USER", "Not enough parameters")
        return
    name = "".join(c for c in params[0] if c.isalnum() or c in "-_.")[:10]
    client.user = "~" + (name or "user")
    client.realname = params[3][:100]
    if client.nick is not None:
        network.welcome(client)


def password(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if client.registered:
        client.numeric("462", "You may not reregister")
    # No server password is configured: any is accepted.


def ping(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if not params or not params[0]:
        client.numeric("409", "No origin specified")
        return
    client.send(network.name, "PONG", network.name, params[0])


def pong(network: Network, client: Client, params: tuple[str, ...]) -> None:
    """Any line counts as alive (see Client._handle): nothing more to do."""


def quit_(network: Network, client: Client, params: tuple[str, ...]) -> None:
    client.quit(f"Quit: {params[0]}" if params and params[0] else "Quit")


def capabilities(network: Network, client: Client, params: tuple[str, ...]) -> None:
    sub = params[0].upper()
    if sub in ("LS", "LIST"):
        client.send(network.name, "CAP", client.nick or "*", sub, "")
    elif sub == "REQ":
        client.send(network.name, "CAP", client.nick or "*", "NAK", params[1] if params[1:] else "")
    elif sub != "END":
        client.numeric("410", sub, "Invalid CAP command")


def send_motd(network: Network, client: Client, params: tuple[str, ...]) -> None:
    lines = _read_motd(network.motd)
    if lines is None:
        client.numeric("422", "MOTD File is missing")
        return
    client.numeric("375", f"- {network.name} Message of the day - ")
    for line in lines:
        client.numeric("372", f"- {line}")
    client.numeric("376", "End of MOTD command")


def _read_motd(path: str | None) -> list[str] | None:
    if path is None:
        return None
    try:
        with Path(path).open("rb") as source:
            data = source.read(64 * 1024)  # a MOTD is short; a huge file is not sent whole
    except OSError:
        return None
    text = data.decode("utf-8", "replace")
    return [line.rstrip()[:400] for line in text.splitlines()][:200]


def message(network: Network, client: Client, params: tuple[str, ...], command: str) -> None:
    notice = command == "NOTICE"  # a NOTICE never causes an error reply (RFC 2812 3.3.2)
    if not params or not params[0]:
        if not notice:
            client.numeric("411", f"No recipient given ({command})")
        return
    if len(params) < 2 or not params[1]:
        if not notice:
            client.numeric("412", "No text to send")
        return
    for target in params[0].split(",")[:TARGET_LIMIT]:
        key = casefold(target)
        if is_channel(target):
            channel = network.channels.get(key)
            if channel is None:
                if not notice:
                    client.numeric("401", target, "No such nick/channel")
            elif "n" in channel.modes and client not in channel.members:
                if not notice:
                    client.numeric("404", channel.name, "Cannot send to channel")
            else:
                channel.send_all(client.prefix, command, channel.name, params[1], skip=client)
        else:
            recipient = network.nicks.get(key)
            if recipient is None or not recipient.registered:
                if not notice:
                    client.numeric("401", target, "No such nick/channel")
            else:
                recipient.send(client.prefix, command, recipient.nick or target, params[1])


def who(network: Network, client: Client, params: tuple[str, ...]) -> None:
    mask = params[0] if params and params[0] not in ("", "0") else "*"
    rows: list[tuple[Client, Channel | None]] = []
    if is_channel(mask):
        channel = network.channels.get(casefold(mask))
        if channel is not None:
            rows = [(member, channel) for member in channel.members]
    else:
        pattern = casefold(mask)
        for other in network.clients:
            if other.registered and fnmatch.fnmatchcase(casefold(other.nick or ""), pattern):
                shared = next(iter(other.channels.values()), None)
                rows.append((other, shared))
    for other, channel in rows[:WHO_LIMIT]:
        flags = "H" + ("@" if channel is not None and channel.is_operator(other) else "")
        client.numeric(
            "352",
            channel.name if channel is not None else "*",
            other.user or "*",
            other.host,
            network.name,
            other.nick or "*",
            flags,
            f"0 {other.realname}",
        )
    client.numeric("315", mask, "End of WHO list")


# command -> (handler, parameters needed, allowed before registration)
COMMANDS: dict[str, tuple[Command, int, bool]] = {
    "NICK": (nick, 0, True),
    "USER": (user, 0, True),  # checks its parameters itself: 462 comes before 461
    "PASS": (password, 1, True),
    "PING": (ping, 0, True),
    "PONG": (pong, 0, True),
    "QUIT": (quit_, 0, True),
    "CAP": (capabilities, 1, True),
    "MOTD": (send_motd, 0, False),
    "PRIVMSG": (lambda n, c, p: message(n, c, p, "PRIVMSG"), 0, False),
    "NOTICE": (lambda n, c, p: message(n, c, p, "NOTICE"), 0, False),
    "WHO": (who, 0, False),
    "JOIN": (_channels.join, 1, False),
    "PART": (_channels.part, 1, False),
    "TOPIC": (_channels.topic, 1, False),
    "NAMES": (_channels.names, 0, False),
    "MODE": (_channels.mode, 1, False),
}
