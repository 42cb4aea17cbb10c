"""What clients ask about users and the server: WHO, WHOIS, WHOWAS, USERHOST, ISON, LUSERS,
INFO, LINKS, TIME and VERSION.

Nobody learns of a secret or private channel they are not on, and a WHO mask lists invisible
(+i) users only to those who share a channel with them (their exact nickname still finds
them, as WHOIS does). WHOWAS answers from :class:`History`: the last :data:`HISTORY_SIZE`
nicknames given up (by QUIT or NICK).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appcore_irc._messages import casefold, chunked, is_channel, mask_matches

if TYPE_CHECKING:
    from appcore_irc._channel import Channel
    from appcore_irc._client import Client
    from appcore_irc._network import Network

#: Most replies to one WHO.
WHO_LIMIT = 200
#: Nicknames one WHOIS asks about at most.
WHOIS_TARGETS = 4
#: Nicknames one USERHOST asks about at most (RFC 2812 section 4.8).
USERHOST_TARGETS = 5
#: Nicknames given up that WHOWAS remembers (the whole server; the oldest go first).
HISTORY_SIZE = 500


@dataclass(frozen=True)
class Departed:
    """A nickname given up: who held it, and when they left it."""

    nick: str
    user: str
    host: str
    realname: str
    when: int


class History:
    """The nicknames given up lately, for WHOWAS; bounded, newest last."""

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        self._entries: deque[Departed] = deque(maxlen=size)

    def record(self, client: Client) -> None:
        if client.registered and client.nick is not None:
            entry = Departed(
                client.nick, client.user or "*", client.host, client.realname, int(time.time())
            )
            self._entries.append(entry)

    def find(self, nick: str, count: int) -> list[Departed]:
        """Up to ``count`` entries for ``nick`` (any number if ``count`` < 1), newest first."""
        folded = casefold(nick)
        found = [entry for entry in reversed(self._entries) if casefold(entry.nick) == folded]
        return found[:count] if count > 0 else found


def who(network: Network, client: Client, params: tuple[str, ...]) -> None:
    mask = params[0] if params and params[0] not in ("", "0") else "*"
    opers_only = len(params) > 1 and params[1] == "o"
    rows: list[tuple[Client, Channel | None]] = []
    if is_channel(mask):
        channel = network.channels.get(casefold(mask))
        if channel is not None and channel.visible_to(client):
            member = client in channel.members
            rows = [(o, channel) for o in channel.members if member or "i" not in o.modes]
    else:
        peers = network.peers_of(client) | {client}
        exact = network.find(mask)
        for other in network.clients:
            hidden = "i" in other.modes and other not in peers and other is not exact
            if not other.registered or hidden:
                continue
            fields = (other.nick or "", other.user or "", other.host, other.realname)
            if any(mask_matches(mask, field) for field in fields):
                shown = [c for c in other.channels.values() if c.visible_to(client)]
                rows.append((other, shown[0] if shown else None))
    if opers_only:
        rows = [(other, channel) for other, channel in rows if other.is_oper]
    for other, channel in rows[:WHO_LIMIT]:
        flags = ("G" if other.away is not None else "H") + ("*" if other.is_oper else "")
        if channel is not None:
            flags += channel.prefix_of(other)
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


def whois(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if len(params) > 1 and not _is_here(network, params[0]):
        client.numeric("402", params[0], "No such server")
        return
    asked = params[-1]
    for nick in asked.split(",")[:WHOIS_TARGETS]:
        other = network.find(nick)
        if other is None:
            client.numeric("401", nick, "No such nick/channel")
            continue
        name = other.nick or nick
        client.numeric("311", name, other.user or "*", other.host, "*", other.realname)
        shown = [
            channel.prefix_of(other) + channel.name
            for channel in other.channels.values()
            if channel.visible_to(client)
        ]
        for chunk in chunked(shown):
            client.numeric("319", name, chunk)
        client.numeric("312", name, network.name, network.description)
        if other.away is not None:
            client.numeric("301", name, other.away)
        if other.is_oper:
            client.numeric("313", name, "is an IRC operator")
        idle = int(time.monotonic() - other.last_spoke)
        client.numeric("317", name, str(idle), str(other.signon), "seconds idle, signon time")
    client.numeric("318", asked, "End of WHOIS list")


def _is_here(network: Network, target: str) -> bool:
    """Whether a command's server parameter means this server (its name, or a user on it)."""
    return mask_matches(target, network.name) or network.find(target) is not None


def whowas(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if not params or not params[0]:
        client.numeric("431", "No nickname given")
        return
    try:
        count = int(params[1]) if len(params) > 1 else 0
    except ValueError:
        count = 0
    for nick in params[0].split(",")[:WHOIS_TARGETS]:
        entries = network.history.find(nick, count)
        if not entries:
            client.numeric("406", nick, "There was no such nickname")
        for entry in entries:
            client.numeric("314", entry.nick, entry.user, entry.host, "*", entry.realname)
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry.when))
            client.numeric("312", entry.nick, network.name, when)
    client.numeric("369", params[0], "End of WHOWAS")


def userhost(network: Network, client: Client, params: tuple[str, ...]) -> None:
    entries = []
    asked = " ".join(params).replace(",", " ").split()  # spaces (RFC), commas (some clients)
    for nick in asked[:USERHOST_TARGETS]:
        other = network.find(nick)
        if other is not None:
            oper = "*" if other.is_oper else ""
            here = "-" if other.away is not None else "+"
            entries.append(f"{other.nick}{oper}={here}{other.user}@{other.host}")
    client.numeric("302", " ".join(entries))


def ison(network: Network, client: Client, params: tuple[str, ...]) -> None:
    asked = " ".join(params).split()[:WHO_LIMIT]
    online = [other.nick or "*" for nick in asked if (other := network.find(nick)) is not None]
    client.numeric("303", " ".join(online))


def lusers(network: Network, client: Client, params: tuple[str, ...]) -> None:
    users = [c for c in network.clients if c.registered]
    invisible = sum(1 for c in users if "i" in c.modes)
    opers = sum(1 for c in users if c.is_oper)
    unknown = len(network.clients) - len(users)
    total, most = len(users), network.max_users
    client.numeric("251", f"There are {total - invisible} users and {invisible} invisible "
                   "on 1 servers")  # fmt: skip
    if opers:
        client.numeric("252", str(opers), "operator(s) online")
    if unknown:
        client.numeric("253", str(unknown), "unknown connection(s)")
    if network.channels:
        client.numeric("254", str(len(network.channels)), "channels formed")
    client.numeric("255", f"I have {total} clients and 0 servers")
    client.numeric("265", str(total), str(most), f"Current local users {total}, max {most}")
    client.numeric("266", str(total), str(most), f"Current global users {total}, max {most}")


def info(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if params and params[0] and not _is_here(network, params[0]):
        client.numeric("402", params[0], "No such server")
        return
    for line in (
        f"{network.name}: {network.description}",
        f"Running {network.version}, the irc server type of the tap toolchain",
        "(appcore-irc: RFC 1459 and RFC 2812, one server, no services)",
        f"Up since {network.created}",
    ):
        client.numeric("371", line)
    client.numeric("374", "End of INFO list")


def links(network: Network, client: Client, params: tuple[str, ...]) -> None:
    mask = params[-1] if params and params[-1] else "*"
    if mask_matches(mask, network.name):  # one server: the only link is itself
        client.numeric("364", network.name, network.name, f"0 {network.description}")
    client.numeric("365", mask, "End of LINKS list")


def time_(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if params and params[0] and not _is_here(network, params[0]):
        client.numeric("402", params[0], "No such server")
        return
    client.numeric("391", network.name, time.strftime("%A %B %d %Y -- %H:%M:%S UTC", time.gmtime()))


def version(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if params and params[0] and not _is_here(network, params[0]):
        client.numeric("402", params[0], "No such server")
        return
    client.numeric("351", f"{network.version}.", network.name, network.description)
