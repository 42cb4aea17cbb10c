"""IRC lines: parsing what clients send, formatting what the server sends, names and masks.

A line is at most 512 bytes with its CR LF (RFC 1459 section 2.3). Names compare under the
``rfc1459`` case mapping, where ``[]\\~`` are the upper-case forms of ``{}|^``. Masks
(``nick!user@host`` with ``*`` and ``?`` wildcards) compare under the same mapping.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

#: Longest line, CR LF included.
MAX_LINE = 512
NICK_LENGTH = 30
CHANNEL_LENGTH = 50
TOPIC_LENGTH = 390
KICK_LENGTH = 255
AWAY_LENGTH = 200
KEY_LENGTH = 23  # RFC 2812 section 2.3.1: 1*23 characters
CHANNEL_PREFIXES = "#&"

_NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*\Z")
# Anything but NUL, BELL, CR, LF, space, comma and colon (RFC 2812 section 1.3).
_CHANNEL = re.compile(r"[#&][^\x00\x07\r\n ,:]+\Z")
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^")
_COMMAND = re.compile(r"[A-Za-z]+\Z|[0-9]{3}\Z")


def casefold(name: str) -> str:
    """``name`` folded under the rfc1459 case mapping (the key to compare names by)."""
    return name.translate(_LOWER)


def valid_nick(nick: str) -> bool:
    """Whether ``nick`` is a well-formed nickname of at most :data:`NICK_LENGTH` chars."""
    return len(nick) <= NICK_LENGTH and _NICK.match(nick) is not None


def valid_channel(name: str) -> bool:
    """Whether ``name`` is a well-formed channel name (``#`` or ``&`` first)."""
    return len(name) <= CHANNEL_LENGTH and _CHANNEL.match(name) is not None


def valid_key(key: str) -> bool:
    """Whether ``key`` may be a channel key: 1 to 23 printable ASCII characters.

    RFC 2812 allows control characters too; they are refused here, with the space (which
    would split a JOIN) and the comma (which separates the keys of a JOIN).
    """
    return 0 < len(key) <= KEY_LENGTH and all("!" <= c <= "~" and c != "," for c in key)


def normal_mask(mask: str) -> str:
    """``mask`` completed to ``nick!user@host`` form: ``bob`` is ``bob!*@*``, ``*@h`` is
    ``*!*@h`` (the form a ban list shows and compares)."""
    if "!" not in mask and "@" not in mask:
        return f"{mask}!*@*"
    nick, bang, rest = mask.partition("!")
    if not bang:  # user@host
        nick, rest = "*", mask
    user, at, host = rest.partition("@")
    return f"{nick or '*'}!{user or '*'}@{host if at and host else '*'}"


@functools.lru_cache(maxsize=1024)
def _mask_pattern(mask: str) -> re.Pattern[str]:
    # Not fnmatch: ``[`` and ``]`` are nickname characters in IRC, never character classes.
    parts = (re.escape(c) if c not in "*?" else "." if c == "?" else ".*" for c in mask)
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def mask_matches(mask: str, name: str) -> bool:
    """Whether ``name`` fits the wildcard ``mask`` (``*`` any run, ``?`` one character)."""
    return _mask_pattern(casefold(mask)).match(casefold(name)) is not None


def is_channel(target: str) -> bool:
    """Whether a message target names a channel rather than a nickname."""
    return target[:1] in CHANNEL_PREFIXES


@dataclass(frozen=True)
class Message:
    """One parsed client line: ``command`` upper-cased, up to 15 ``params``."""

    command: str
    params: tuple[str, ...]


def parse(line: str) -> Message | None:
    """A client line parsed, or None for an empty or malformed one (to be ignored).

    IRCv3 message tags and a source prefix are accepted and dropped: a client does not get
    to say who it is.
    """
    text = line.strip(" ")
    if text.startswith("@"):
        _, _, text = text.partition(" ")
        text = text.lstrip(" ")
    if text.startswith(":"):
        _, _, text = text.partition(" ")
        text = text.lstrip(" ")
    head, sep, trailing = text.partition(" :")
    words = head.split()
    if not words or _COMMAND.match(words[0]) is None:
        return None
    params = words[1:]
    if sep:
        params.append(trailing)
    if len(params) > 15:  # the 15th holds the rest (RFC 2812 section 2.3.1)
        params = [*params[:14], " ".join(params[14:])]
    return Message(words[0].upper(), tuple(params))


def format_line(source: str | None, command: str, *params: str, text: bool = True) -> bytes:
    """One line to send: ``:source COMMAND p1 p2 :last``, cut to fit 512 bytes with CR LF.

    With ``text`` (free text last, as in PRIVMSG) the last parameter always follows a colon;
    otherwise only when it must (empty, holding a space, or starting with a colon).
    """
    parts = [f":{source}"] if source else []
    parts.append(command)
    if params:
        parts.extend(params[:-1])
        last = params[-1]
        needs_colon = text or not last or " " in last or last.startswith(":")
        parts.append(":" + last if needs_colon else last)
    joined = " ".join(parts).replace("\r", " ").replace("\n", " ").replace("\0", " ")
    data = joined.encode("utf-8")
    if len(data) > MAX_LINE - 2:
        # Cut on a character boundary: a clipped UTF-8 sequence would be junk to the client.
        data = data[: MAX_LINE - 2].decode("utf-8", "ignore").encode("utf-8")
    return data + b"\r\n"


def chunked(entries: list[str], width: int = 380) -> list[str]:
    """``entries`` joined by spaces into runs of at most about ``width`` characters, so a
    long NAMES or WHOIS list fits in 512-byte lines."""
    chunks: list[str] = []
    chunk: list[str] = []
    size = 0
    for entry in entries:
        if size + len(entry) > width and chunk:
            chunks.append(" ".join(chunk))
            chunk, size = [], 0
        chunk.append(entry)
        size += len(entry) + 1
    if chunk:
        chunks.append(" ".join(chunk))
    return chunks


def decode(raw: bytes) -> str:
    """A received line as text: UTF-8, or Latin-1 for older clients (never an error)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
