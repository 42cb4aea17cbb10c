"""Connection registration and the connection's own commands: NICK, USER, CAP, PING, PONG,
QUIT and MOTD, and the welcome burst (001-005, then the MOTD).

A client registers with NICK and USER (after PASS when the server has a password, see
:mod:`._logins`). A NICK to the nickname a client already has changes nothing and is not
answered; a change of case only is announced like any other change.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from appcore_irc import _logins
from appcore_irc._channel import CHANMODES, CHANNEL_MODES, MAX_BANS
from appcore_irc._channels import KICK_TARGETS, MAX_CHANNELS
from appcore_irc._messages import (
    AWAY_LENGTH,
    CHANNEL_LENGTH,
    KEY_LENGTH,
    KICK_LENGTH,
    NICK_LENGTH,
    TOPIC_LENGTH,
    casefold,
    format_line,
    valid_nick,
)
from appcore_irc._messaging import TARGET_LIMIT
from appcore_irc._modes import MODE_PARAMS, USER_FLAGS
from appcore_irc._queries import WHOIS_TARGETS

if TYPE_CHECKING:
    from appcore_irc._client import Client
    from appcore_irc._network import Network

#: RPL_ISUPPORT (005) tokens, in lines of at most 13 (the limit of one 005 line).
FEATURES = (
    f"AWAYLEN={AWAY_LENGTH} CASEMAPPING=rfc1459 CHANLIMIT=#&:{MAX_CHANNELS} "
    f"CHANMODES={CHANMODES} CHANNELLEN={CHANNEL_LENGTH} CHANTYPES=#& KEYLEN={KEY_LENGTH} "
    f"KICKLEN={KICK_LENGTH} MAXLIST=b:{MAX_BANS} MAXTARGETS={TARGET_LIMIT} MODES={MODE_PARAMS}",
    f"NICKLEN={NICK_LENGTH} PREFIX=(ov)@+ TOPICLEN={TOPIC_LENGTH} "
    f"TARGMAX=JOIN:,PART:,KICK:{KICK_TARGETS},NAMES:,LIST:,PRIVMSG:{TARGET_LIMIT},"
    f"NOTICE:{TARGET_LIMIT},WHOIS:{WHOIS_TARGETS},WHOWAS:{WHOIS_TARGETS}",
)


def welcome(network: Network, client: Client) -> None:
    """Registration is complete: the welcome burst, then the MOTD."""
    client.registered = True
    network.max_users = max(network.max_users, sum(1 for c in network.clients if c.registered))
    client.numeric("001", f"Welcome to the Internet Relay Network {client.prefix}")
    client.numeric("002", f"Your host is {network.name}, running version {network.version}")
    client.numeric("003", f"This server was created {network.created}")
    client.numeric("004", network.name, network.version, USER_FLAGS, CHANNEL_MODES, text=False)
    for features in FEATURES:
        client.numeric("005", *features.split(), "are supported by this server")
    send_motd(network, client, ())


def nick(network: Network, client: Client, params: tuple[str, ...]) -> None:
    wanted = params[0] if params else ""
    if not wanted:
        client.numeric("431", "No nickname given")
        return
    if not valid_nick(wanted):
        client.numeric("432", wanted, "Erroneous nickname")
        return
    if wanted == client.nick:
        return  # no change, nothing to tell (a change of case only is a change)
    key = casefold(wanted)
    holder = network.nicks.get(key)
    if holder is not None and holder is not client:
        client.numeric("433", wanted, "Nickname is already in use")
        return
    old_prefix = client.prefix
    if client.nick is not None:
        network.nicks.pop(casefold(client.nick), None)
        network.history.record(client)
    network.nicks[key] = client
    if client.registered:
        line = format_line(old_prefix, "NICK", wanted, text=False)
        for peer in network.peers_of(client) | {client}:
            peer.send_line(line)
    client.nick = wanted
    if not client.registered and client.user is not None:
        _logins.admit(network, client)


def user(network: Network, client: Client, params: tuple[str, ...]) -> None:
    if client.registered or client.user is not None:
        client.numeric("462", "You may not reregister")
        return
    if len(params) < 4 or not params[0] or not params[3]:  # empty names count as missing
        client.numeric("461", "USER", "Not enough parameters")
        return
    name = "".join(c for c in params[0] if c.isalnum() or c in "-_.")[:10]
    client.user = "~" + (name or "user")
    client.realname = params[3][:100]
    if client.nick is not None:
        _logins.admit(network, client)


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
