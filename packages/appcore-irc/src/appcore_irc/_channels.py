"""The commands about channels: JOIN, PART, TOPIC, NAMES, LIST, KICK and INVITE.

Secret (+s) and private (+p) channels are seen only by their members: LIST and NAMES leave
them out for everyone else. An invitation (INVITE) lets its target past +i, +l and bans
once: joining uses it up.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from appcore_irc._channel import Channel
from appcore_irc._messages import (
    KICK_LENGTH,
    TOPIC_LENGTH,
    casefold,
    chunked,
    valid_channel,
)

if TYPE_CHECKING:
    from appcore_irc._client import Client
    from appcore_irc._network import Network

#: Channels one client may be on at once.
MAX_CHANNELS = 50
#: Most users one KICK removes (ISUPPORT TARGMAX); more are ignored.
KICK_TARGETS = 4
#: Most invitations one client holds; the oldest go first.
MAX_INVITES = 50
#: Most RPL_LIST lines one LIST sends.
LIST_LIMIT = 2000


def join(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if params[0] == "0":  # JOIN 0: leave every channel
        for joined in list(client.channels.values()):
            _leave(network, client, joined, "PART", ())
        return
    keys = params[1].split(",") if len(params) > 1 else []
    for index, name in enumerate(params[0].split(",")):
        key = keys[index] if index < len(keys) else None
        if not valid_channel(name):
            client.numeric("403", name, "No such channel")
            continue
        folded = casefold(name)
        if folded in client.channels:
            continue
        if len(client.channels) >= MAX_CHANNELS:
            client.numeric("405", name, "You have joined too many channels")
            return
        channel = network.channels.get(folded)
        if channel is None:
            channel = network.channels[folded] = Channel(name)
            status = "o"  # whoever opens a channel runs it
        else:
            refusal = channel.join_refusal(client, key)
            if refusal is not None:
                client.numeric(refusal[0], channel.name, refusal[1])
                continue
            status = ""
        client.invited.pop(folded, None)
        channel.members[client] = status
        client.channels[folded] = channel
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
    if channel is None or not channel.visible_to(client):
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
            if listed.visible_to(client):
                send_names(client, listed, end=False)
        client.numeric("366", "*", "End of NAMES list")
        return
    for name in params[0].split(","):
        channel = network.channels.get(casefold(name))
        if channel is not None and channel.visible_to(client):
            send_names(client, channel, end=False)
    # One end for the whole request, naming it as asked (RFC 2812 section 3.2.5).
    client.numeric("366", params[0], "End of NAMES list")


def send_names(client: Client, channel: Channel, *, end: bool = True) -> None:
    """353 replies (as many as the 512-byte limit needs), then 366 unless ``end`` is off.

    Outside the channel, invisible (+i) members are left out.
    """
    member = client in channel.members
    entries = [
        channel.prefix_of(other) + (other.nick or "*")
        for other in channel.members
        if member or "i" not in other.modes
    ]
    for chunk in chunked(entries):
        client.numeric("353", channel.symbol(), channel.name, chunk)
    if end:
        client.numeric("366", channel.name, "End of NAMES list")


def list_(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if params and params[0]:
        wanted = [network.channels.get(casefold(name)) for name in params[0].split(",")]
        found = [channel for channel in wanted if channel is not None]
    else:
        found = list(network.channels.values())
    visible = [channel for channel in found if channel.visible_to(client)]
    for channel in visible[:LIST_LIMIT]:
        client.numeric("322", channel.name, str(len(channel.members)), channel.topic)
    client.numeric("323", "End of LIST")


def kick(network: Network, client: Client, params: tuple[str, ...]) -> None:
    channels = params[0].split(",")
    nicks = params[1].split(",")[:KICK_TARGETS]
    # One channel and many users, or as many channels as users, paired (RFC 2812 3.2.8).
    if len(channels) == 1:
        pairs = [(channels[0], nick) for nick in nicks]
    elif len(channels) == len(nicks):
        pairs = list(zip(channels, nicks, strict=True))
    else:
        client.numeric("461", "KICK", "Not enough parameters")
        return
    comment = params[2][:KICK_LENGTH] if len(params) > 2 and params[2] else client.nick or "*"
    for name, nick in pairs:
        channel = network.channels.get(casefold(name))
        target = network.find(nick)
        if channel is None:
            client.numeric("403", name, "No such channel")
        elif client not in channel.members:
            client.numeric("442", channel.name, "You're not on that channel")
        elif not channel.is_operator(client):
            client.numeric("482", channel.name, "You're not channel operator")
        elif target is None:
            client.numeric("401", nick, "No such nick/channel")
        elif target not in channel.members:
            client.numeric("441", target.nick or nick, channel.name, "They aren't on that channel")
        else:
            # One target a line, always: old clients read no lists here (RFC 2812 3.2.8).
            channel.send_all(client.prefix, "KICK", channel.name, target.nick or nick, comment)
            network.remove_member(target, channel)


def invite(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if not params:  # the invitations this client holds
        for folded, channel in client.invited.items():
            client.numeric("336", channel.name if channel is not None else folded, text=False)
        client.numeric("337", "End of /INVITE list")
        return
    if len(params) < 2:
        client.numeric("461", "INVITE", "Not enough parameters")
        return
    nick, name = params[0], params[1]
    target = network.find(nick)
    if target is None:
        client.numeric("401", nick, "No such nick/channel")
        return
    folded = casefold(name)
    channel = network.channels.get(folded)
    # A channel that does not exist may be named (RFC 2812 3.2.7); one that does has rules.
    if channel is not None:
        if client not in channel.members:
            client.numeric("442", channel.name, "You're not on that channel")
            return
        if target in channel.members:
            client.numeric("443", target.nick or nick, channel.name, "is already on channel")
            return
        if "i" in channel.modes and not channel.is_operator(client):
            client.numeric("482", channel.name, "You're not channel operator")
            return
        name = channel.name
    target.invited.pop(folded, None)
    target.invited[folded] = channel
    while len(target.invited) > MAX_INVITES:
        del target.invited[next(iter(target.invited))]
    client.numeric("341", target.nick or nick, name, text=False)
    target.send(client.prefix, "INVITE", target.nick or nick, name, text=False)
    if target.away is not None:
        client.numeric("301", target.nick or nick, target.away)
