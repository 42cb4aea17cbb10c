"""The MODE command: channel modes (flags, key, limit, bans, operators, voices) and user modes.

Channel modes (RFC 2812 section 3.2.3): flags ``i m n p s t``; ``k KEY`` (1 to 23 printable
characters, else ERR_INVALIDMODEPARAM 696); ``l N`` (1 to :data:`~._channel.MAX_LIMIT`);
``b MASK`` (up to :data:`~._channel.MAX_BANS` masks; ``MODE #c b`` lists them); ``o NICK``
and ``v NICK``. At most :data:`MODE_PARAMS` modes with a parameter are applied per command.

User modes: ``i`` invisible, ``w`` receives WALLOPS, ``o`` operator (given by OPER only;
``MODE nick -o`` gives it up).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from appcore_irc._channel import CHANNEL_FLAGS, MAX_BANS, MAX_LIMIT, Channel
from appcore_irc._messages import casefold, is_channel, normal_mask, valid_key

if TYPE_CHECKING:
    from appcore_irc._client import Client
    from appcore_irc._network import Network

#: Modes with a parameter one MODE command may change (ISUPPORT MODES).
MODE_PARAMS = 4
#: User modes: ``i`` invisible, ``o`` operator, ``w`` receives WALLOPS.
USER_FLAGS = "iow"

Change = tuple[str, str, str | None]  # (sign, letter, argument)


def mode(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if is_channel(params[0]):
        channel = network.channels.get(casefold(params[0]))
        if channel is None or not channel.visible_to(client):
            client.numeric("403", params[0], "No such channel")
        else:
            _channel_mode(network, client, channel, params[1:])
    else:
        _user_mode(network, client, params)


def _channel_mode(
    network: Network, client: Client, channel: Channel, params: tuple[str, ...]
) -> None:
    if not params:
        client.numeric("324", channel.name, *channel.mode_string(client), text=False)
        client.numeric("329", channel.name, str(channel.created), text=False)
        return
    if len(params) == 1 and params[0].strip("+-") == "b":  # a question: the ban list
        for mask, (setter, when) in channel.bans.items():
            client.numeric("367", channel.name, mask, setter, str(when), text=False)
        client.numeric("368", channel.name, "End of channel ban list")
        return
    if not channel.is_operator(client):
        client.numeric("482", channel.name, "You're not channel operator")
        return
    args = list(params[1 : 1 + MODE_PARAMS])
    adding = True
    done: list[Change] = []
    for letter in params[0]:
        if letter in "+-":
            adding = letter == "+"
        elif letter in CHANNEL_FLAGS:
            if adding != (letter in channel.modes):
                channel.modes.symmetric_difference_update(letter)
                done.append(("+" if adding else "-", letter, None))
        elif letter in "kl" and not adding:
            if letter == "k" and args:
                args.pop(0)  # -k names the key; which one does not matter
            change = _unset(channel, letter)
            if change is not None:
                done.append(change)
        elif letter in "klbov":
            if not args:
                if letter != "b":  # "+b" alone asks for the list: answered above
                    client.numeric("461", "MODE", "Not enough parameters")
                continue
            change = _with_argument(network, client, channel, adding, letter, args.pop(0))
            if change is not None:
                done.append(change)
        else:
            client.numeric("472", letter, f"is unknown mode char to me for {channel.name}")
    if done:
        channel.send_all(client.prefix, "MODE", channel.name, *_render(done), text=False)


def _unset(channel: Channel, letter: str) -> Change | None:
    if letter == "k" and channel.key is not None:
        old, channel.key = channel.key, None
        return "-", "k", old
    if letter == "l" and channel.limit is not None:
        channel.limit = None
        return "-", "l", None
    return None


def _with_argument(
    network: Network, client: Client, channel: Channel, adding: bool, letter: str, arg: str
) -> Change | None:
    sign = "+" if adding else "-"
    if letter == "k":
        if not valid_key(arg):
            client.numeric("696", channel.name, "k", "*", "Invalid key: 1 to 23 characters, "
                           "no spaces or commas")  # fmt: skip
            return None
        channel.key = arg
        return sign, "k", arg
    if letter == "l":
        if not (arg.isascii() and arg.isdigit() and 0 < int(arg) <= MAX_LIMIT):
            shown = arg or "*"  # an empty middle parameter cannot be sent
            client.numeric("696", channel.name, "l", shown, f"Invalid limit: 1 to {MAX_LIMIT}")
            return None
        channel.limit = int(arg)
        return sign, "l", arg
    if letter == "b":
        return _ban(client, channel, adding, arg)
    target = network.find(arg)
    if target is None:
        client.numeric("401", arg, "No such nick/channel")
    elif target not in channel.members:
        client.numeric("441", target.nick or arg, channel.name, "They aren't on that channel")
    elif channel.set_status(target, letter, adding):
        return sign, letter, target.nick or arg
    return None


def _ban(client: Client, channel: Channel, adding: bool, arg: str) -> Change | None:
    mask = normal_mask(arg)
    folded = casefold(mask)
    existing = next((m for m in channel.bans if casefold(m) == folded), None)
    if adding:
        if existing is not None:
            return None
        if len(channel.bans) >= MAX_BANS:
            client.numeric("478", channel.name, "b", "Channel ban list is full")
            return None
        channel.bans[mask] = (client.prefix, int(time.time()))
        return "+", "b", mask
    if existing is None:
        return None
    del channel.bans[existing]
    return "-", "b", existing


def _render(done: list[Change]) -> list[str]:
    """``+tl-o 5 nick``: one mode string with signs merged, then the arguments in order."""
    changes, arguments, last = "", [], ""
    for sign, letter, argument in done:
        changes += letter if sign == last else sign + letter
        last = sign
        if argument is not None:
            arguments.append(argument)
    return [changes, *arguments]


def _user_mode(network: Network, client: Client, params: tuple[str, ...]) -> None:
    target = network.find(params[0])
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
        elif letter == "o" and adding:
            continue  # only OPER makes an operator (RFC 2812 section 3.1.5)
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
