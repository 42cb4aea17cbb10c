"""A channel: its members and their status, its topic, modes, key, limit and ban list.

The rules that follow from the modes live here, next to the state they read: who may join
(:meth:`Channel.join_refusal`), who may speak (:meth:`Channel.may_speak`) and who may see
the channel at all (:meth:`Channel.visible_to`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from appcore_irc._messages import casefold, format_line, mask_matches

if TYPE_CHECKING:
    from appcore_irc._client import Client

#: Channel flags (modes without a parameter): ``i`` invite only, ``m`` moderated, ``n`` no
#: messages from outside, ``p`` private, ``s`` secret, ``t`` only operators set the topic.
CHANNEL_FLAGS = "imnpst"
#: Every channel mode letter, as RPL_MYINFO (004) lists them.
CHANNEL_MODES = "biklmnopstv"
#: ISUPPORT's CHANMODES: list modes, modes with a parameter always, when set, and flags.
CHANMODES = f"b,k,l,{CHANNEL_FLAGS}"
#: Member status letters and the prefixes NAMES and WHO show for them, highest first.
STATUS = {"o": "@", "v": "+"}
#: Most entries on one channel's ban list.
MAX_BANS = 100
#: Highest user limit (+l) accepted.
MAX_LIMIT = 100_000


class Channel:
    """A channel: members (with their status letters), topic and modes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[Client, str] = {}  # client -> status letters ("o", "v", "ov", "")
        self.topic = ""
        self.topic_by = ""
        self.topic_at = 0
        self.modes: set[str] = {"n", "t"}
        self.key: str | None = None
        self.limit: int | None = None
        self.bans: dict[str, tuple[str, int]] = {}  # mask -> (set by, when): in order set
        self.created = int(time.time())

    def __repr__(self) -> str:
        return f"<Channel {self.name} ({len(self.members)} members)>"

    def send_all(
        self, source: str, command: str, *params: str, skip: Client | None = None, text: bool = True
    ) -> None:
        """Send one line to every member but ``skip``."""
        line = format_line(source, command, *params, text=text)
        for member in list(self.members):
            if member is not skip:
                member.send_line(line)

    # --- status

    def is_operator(self, client: Client) -> bool:
        return "o" in self.members.get(client, "")

    def is_voiced(self, client: Client) -> bool:
        return "v" in self.members.get(client, "")

    def set_status(self, client: Client, letter: str, on: bool) -> bool:
        """Give or take a member's status letter; whether that changed anything."""
        current = self.members[client]
        if (letter in current) == on:
            return False
        wanted = set(current) ^ {letter}
        self.members[client] = "".join(c for c in STATUS if c in wanted)
        return True

    def prefix_of(self, client: Client) -> str:
        """The highest status prefix of a member (``@``, ``+`` or nothing)."""
        status = self.members.get(client, "")
        return next((STATUS[c] for c in STATUS if c in status), "")

    # --- modes

    def mode_string(self, viewer: Client | None = None) -> tuple[str, ...]:
        """``+flags`` and the parameters of ``k`` and ``l``; the key only for members."""
        letters = "".join(sorted(self.modes))
        params: list[str] = []
        if self.key is not None:
            letters += "k"
            params.append(self.key if viewer in self.members else "*")
        if self.limit is not None:
            letters += "l"
            params.append(str(self.limit))
        return ("+" + letters, *params)

    def symbol(self) -> str:
        """RPL_NAMREPLY's channel type: ``@`` secret, ``*`` private, ``=`` public."""
        return "@" if "s" in self.modes else "*" if "p" in self.modes else "="

    def visible_to(self, client: Client) -> bool:
        """Whether ``client`` may learn of this channel: members always; others unless it is
        secret or private (both hide a channel from LIST, NAMES, WHO and WHOIS)."""
        return client in self.members or not ({"s", "p"} & self.modes)

    def is_banned(self, client: Client) -> bool:
        return any(mask_matches(mask, client.prefix) for mask in self.bans)

    def join_refusal(self, client: Client, key: str | None) -> tuple[str, str] | None:
        """Why ``client`` may not join, as ``(numeric, text)``; None when it may.

        An invitation lets a client past +i, +l and bans, but never past a wrong key.
        """
        invited = client.invited.get(casefold(self.name)) is self
        if self.key is not None and key != self.key:
            return "475", "Cannot join channel (+k)"
        if invited:
            return None
        if "i" in self.modes:
            return "473", "Cannot join channel (+i)"
        if self.limit is not None and len(self.members) >= self.limit:
            return "471", "Cannot join channel (+l)"
        if self.is_banned(client):
            return "474", "Cannot join channel (+b)"
        return None

    def may_speak(self, client: Client) -> bool:
        """Whether ``client`` may send to the channel (modes +n and +m, bans)."""
        if client not in self.members:
            return "n" not in self.modes and "m" not in self.modes and not self.is_banned(client)
        if self.members[client]:  # operators and voiced members always may
            return True
        return "m" not in self.modes and not self.is_banned(client)
