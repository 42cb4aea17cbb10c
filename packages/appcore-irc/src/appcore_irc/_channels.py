"""Channels and the commands about them: JOIN, PART, TOPIC, NAMES, MODE."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from appcore_irc._messages import (
    TOPIC_LENGTH,
    casefold,
    format_line,
    is_channel,
    valid_channel,
)

if TYPE_CHECKING:
    from appcore_irc._client import Client
    from appcore_irc._network import Network

#: Channel modes: ``n`` no messages from outside, ``t`` only operators set the topic.
CHANNEL_FLAGS = "nt"
#: Channels one client may be on at once.
MAX_CHANNELS = 50


class Channel:
    """A channel: its members (operators marked), topic and modes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[Client, bool] = {}  # client -> is operator
        self.topic = ""
        self.topic_by = ""
        self.topic_at = 0
        self.modes: set[str] = {"n", "t"}
        self.created = int(time.time())

    def send_all(
        self, source: str, command: str, *params: str, skip: Client | None = None, text: bool = True
    ) -> None:
        """Send one line to every member but ``skip``."""
        line = format_line(source, command, *params, text=text)
        for member in list(self.members):
            if member is not skip:
                member.send_line(line)

    def is_operator(self, client: Client) -> bool:
        return self.members.get(client, False)

    def names(self) -> list[str]:
        return [("@" if op else "") + (c.nick or "*") for c, op in self.members.items()]

    def mode_string(self) -> str:
        return "+" + "".join(sorted(self.modes))


def join(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if params[0] == "0":  # JOIN 0: leave every channel
        for joined in list(client.channels.values()):
            _leave(network, client, joined, "PART", ())
        return
    for name in params[0].split(","):
        if not valid_channel(name):
            client.numeric("403", name, "No such channel")
            continue
        key = casefold(name)
        if key in client.channels:
            continue
        if len(client.channels) >= MAX_CHANNELS:
            client.numeric("405", name, "You have joined too many channels")
            return
        channel = network.channels.get(key)
        if channel is None:
            channel = network.channels[key] = Channel(name)
        channel.members[client] = not channel.members  # whoever opens a channel runs it
        client.channels[key] = channel
        channel.send_all(client.prefix, "JOIN", channel.name, text=False)
        if channel.topic:
            _send_topic(client, channel)
        send_names(client, channel)


def part(network: Network, client: Client, params: tuple[str, ...]) -> None:
    reason = params[1:2]
    for name in params[0].split(","):
        channel = network.channels.get(casefold(name))
        if channel is None:
            client.numeric("403", name, "No such channel")
        elif client not in channel.members:
            client.numeric("442", channel.name, "You're not on that channel")
        else:
            _leave(network, client, channel, "PART", reason)


def _leave(
    network: Network, client: Client, channel: Channel, command: str, reason: tuple[str, ...]
) -> None:
    channel.send_all(client.prefix, command, channel.name, *reason, text=bool(reason))
    network.remove_member(client, channel)


def topic(network: Network, client: Client, params: tuple[str, ...]) -> None:
    channel = network.channels.get(casefold(params[0]))
    if channel is None:
        client.numeric("403", params[0], "No such channel")
        return
    if client not in channel.members:
        client.numeric("442", channel.name, "You're not on that channel")
        return
    if len(params) < 2:
        if channel.topic:
            _send_topic(client, channel)
        else:
            client.numeric("331", channel.name, "No topic is set")
        return
    if "t" in channel.modes and not channel.is_operator(client):
        client.numeric("482", channel.name, "You're not channel operator")
        return
    channel.topic = params[1][:TOPIC_LENGTH]
    channel.topic_by = client.prefix
    channel.topic_at = int(time.time())
    channel.send_all(client.prefix, "TOPIC", channel.name, channel.topic)


def _send_topic(client: Client, channel: Channel) -> None:
    client.numeric("332", channel.name, channel.topic)
    client.numeric("333", channel.name, channel.topic_by, str(channel.topic_at), text=False)


def names(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if not params or not params[0]:
        for listed in list(network.channels.values()):
            send_names(client, listed, end=False)
        client.numeric("366", "*", "End of NAMES list")
        return
    for name in params[0].split(","):
        channel = network.channels.get(casefold(name))
        if channel is not None:
            send_names(client, channel)
        else:
            client.numeric("366", name, "End of NAMES list")


def send_names(client: Client, channel: Channel, *, end: bool = True) -> None:
    """353 replies (as many as the 512-byte limit needs), then 366 unless ``end`` is off."""
    chunk: list[str] = []
    size = 0
    for entry in channel.names():
        if size + len(entry) > 380 and chunk:
            client.numeric("353", "=", channel.name, " ".join(chunk))
            chunk, size = [], 0
        chunk.append(entry)
        size += len(entry) + 1
    if chunk:
        client.numeric("353", "=", channel.name, " ".join(chunk))
    if end:
        client.numeric("366", channel.name, "End of NAMES list")


def mode(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if is_channel(params[0]):
        channel = network.channels.get(casefold(params[0]))
        if channel is None:
            client.numeric("403", params[0], "No such channel")
        else:
            _channel_mode(network, client, channel, params[1:])
    else:
        _user_mode(network, client, params)


def _channel_mode(
    network: Network, client: Client, channel: Channel, params: tuple[str, ...]
) -> None:
    if not params:
        client.numeric("324", channel.name, channel.mode_string(), text=False)
        client.numeric("329", channel.name, str(channel.created), text=False)
        return
    if params[0] in ("b", "+b"):  # clients ask for the ban list on join: there is none
        client.numeric("368", channel.name, "End of channel ban list")
        return
    if not channel.is_operator(client):
        client.numeric("482", channel.name, "You're not channel operator")
        return
    args = list(params[1:])
    adding = True
    done: list[tuple[str, str, str | None]] = []  # (sign, letter, argument)
    for letter in params[0]:
        if letter in "+-":
            adding = letter == "+"
            continue
        sign = "+" if adding else "-"
        if letter in CHANNEL_FLAGS:
            if adding != (letter in channel.modes):
                channel.modes.symmetric_difference_update(letter)
                done.append((sign, letter, None))
        elif letter == "o":
            if not args:
                client.numeric("461", "MODE", "Not enough parameters")
                continue
            nick = args.pop(0)
            target = network.nicks.get(casefold(nick))
            if target is None:
                client.numeric("401", nick, "No such nick/channel")
            elif target not in channel.members:
                client.numeric("441", nick, channel.name, "They aren't on that channel")
            elif channel.members[target] != adding:
                channel.members[target] = adding
                done.append((sign, "o", target.nick))
        else:
            client.numeric("472", letter, f"is unknown mode char to me for {channel.name}")
    if done:
        changes, arguments, last = "", [], ""
        for sign, letter, argument in done:
            changes += letter if sign == last else sign + letter
            last = sign
            if argument is not None:
                arguments.append(argument)
        channel.send_all(client.prefix, "MODE", channel.name, changes, *arguments, text=False)


#: User modes: ``i`` invisible (kept, shown; nothing hides on it yet), ``w`` wallops.
USER_FLAGS = "iw"


def _user_mode(network: Network, client: Client, params: tuple[str, ...]) -> None:
    target = network.nicks.get(casefold(params[0]))
    if target is None:
        client.numeric("401", params[0], "No such nick/channel")
        return
    if target is not client:
        client.numeric("502", "Cant change mode for other users")
        return
    if len(params) < 2:
        client.numeric("221", "+" + "".join(sorted(client.modes)), text=False)
        return
    adding = True
    changed = ""
    unknown = False
    for letter in params[1]:
        if letter in "+-":
            adding = letter == "+"
        elif letter in USER_FLAGS:
            if adding != (letter in client.modes):
                client.modes.symmetric_difference_update(letter)
                changed += ("+" if adding else "-") + letter
        else:
            unknown = True
    if unknown:
        client.numeric("501", "Unknown MODE flag")
    if changed:
        client.send(client.prefix, "MODE", client.nick or "*", changed, text=False)
