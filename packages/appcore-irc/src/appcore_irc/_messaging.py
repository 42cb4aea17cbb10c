"""Talking: PRIVMSG and NOTICE to users and channels, AWAY, and the operators' WALLOPS.

A NOTICE never causes a reply, not even an error (RFC 2812 section 3.3.2); a PRIVMSG to an
away user brings back their away message (RPL_AWAY).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from appcore_irc._messages import AWAY_LENGTH, casefold, format_line, is_channel

if TYPE_CHECKING:
    from appcore_irc._client import Client
    from appcore_irc._network import Network

#: Most targets of one PRIVMSG or NOTICE.
TARGET_LIMIT = 4


def message(network: Network, client: Client, params: tuple[str, ...], command: str) -> None:
    notice = command == "NOTICE"
    if not params or not params[0]:
        if not notice:
            client.numeric("411", f"No recipient given ({command})")
        return
    if len(params) < 2 or not params[1]:
        if not notice:
            client.numeric("412", "No text to send")
        return
    client.last_spoke = time.monotonic()
    for target in params[0].split(",")[:TARGET_LIMIT]:
        if is_channel(target):
            channel = network.channels.get(casefold(target))
            if channel is None or not channel.visible_to(client):
                if not notice:
                    client.numeric("401", target, "No such nick/channel")
            elif not channel.may_speak(client):
                if not notice:
                    client.numeric("404", channel.name, "Cannot send to channel")
            else:
                channel.send_all(client.prefix, command, channel.name, params[1], skip=client)
            continue
        recipient = network.find(target)
        if recipient is None:
            if not notice:
                client.numeric("401", target, "No such nick/channel")
            continue
        recipient.send(client.prefix, command, recipient.nick or target, params[1])
        if recipient.away is not None and not notice:
            client.numeric("301", recipient.nick or target, recipient.away)


def away(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if params and params[0]:
        client.away = params[0][:AWAY_LENGTH]
        client.numeric("306", "You have been marked as being away")
    else:
        client.away = None
        client.numeric("305", "You are no longer marked as being away")


def wallops(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if not client.is_oper:
        client.numeric("481", "Permission Denied- You're not an IRC operator")
        return
    if not params[0]:
        client.numeric("412", "No text to send")
        return
    line = format_line(client.prefix, "WALLOPS", params[0])
    for other in list(network.clients):
        if other.registered and "w" in other.modes:
            other.send_line(line)
