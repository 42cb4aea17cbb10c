"""Slowing password guessing down: failed logins per source address, across connections.

A per-connection pause alone lets a client open thirty connections and guess thirty times
as fast. A :class:`LoginThrottle` belongs to one service and is shared by all its
connections: every login attempt from an address takes a token from that address's
bucket, which refills at ``rate`` tokens a second up to ``burst``; a successful login
gives its token back, so only failures count. An attempt finding the bucket empty waits
for its turn, and one that would wait longer than ``max_wait`` is refused (the server hangs
up). IPv6 addresses count per /64 network, what one host usually gets to choose from.

The table of addresses is bounded (``max_sources``): the least recently seen address is
forgotten first, so a client cycling through addresses costs memory only up to the bound.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appcore.plugins._options import Option

#: Failed logins a second allowed per source address, in the long run.
DEFAULT_RATE = 2.0
#: Failed logins an address may make at once before the rate applies.
DEFAULT_BURST = 2
#: Seconds an attempt may wait for its turn; beyond that it is refused.
DEFAULT_MAX_WAIT = 10.0
#: Source addresses remembered at most.
DEFAULT_MAX_SOURCES = 4096
#: Seconds a client has to log in after connecting, in the servers that use this module.
LOGIN_TIMEOUT = 30.0


def login_timeout_option() -> Option:
    """The ``--login-timeout SECONDS`` option of a server type with logins: more than 0,
    :data:`LOGIN_TIMEOUT` by default (what its service reads as ``login_timeout``)."""
    from appcore.plugins._options import Option

    return Option(
        "login_timeout",
        float,
        default=LOGIN_TIMEOUT,
        help="seconds a client has to log in before it is disconnected",
        metavar="SECONDS",
        more_than=0,
    )


def source_key(address: Any) -> str:
    """The bucket a peer address counts in: the IPv4 address, the IPv6 /64, or ``local``.

    ``address`` is what a transport's ``peername`` gives: a ``(host, port, ...)`` tuple, a
    host string, or something else for a UNIX socket.
    """
    host = address[0] if isinstance(address, tuple) and address else address
    if not isinstance(host, str) or not host:
        return "local"
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class LoginThrottle:
    """Failed-login limits per source address, shared by the connections of one service."""

    def __init__(
        self,
        *,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        max_wait: float = DEFAULT_MAX_WAIT,
        max_sources: int = DEFAULT_MAX_SOURCES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or max_wait < 0 or max_sources < 1:
            raise ValueError("rate, burst and max_sources must be positive, max_wait >= 0")
        self.rate = rate
        self.burst = burst
        self.max_wait = max_wait
        self.max_sources = max_sources
        self._clock = clock
        # key -> (tokens, when they were counted); least recently used first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        """How many source addresses are remembered."""
        return len(self._buckets)

    def reserve(self, address: Any) -> float | None:
        """Take a token for an attempt from ``address``: seconds to wait before checking the
        password (0.0 at once), or None when it would be longer than ``max_wait``."""
        key = source_key(address)
        now = self._clock()
        tokens = self._tokens(key, now) - 1.0
        wait = -tokens / self.rate if tokens < 0 else 0.0
        if wait > self.max_wait:
            return None
        self._store(key, tokens, now)
        return wait

    async def admit(self, address: Any) -> bool:
        """Wait for the turn of an attempt from ``address``; False when it is refused."""
        wait = self.reserve(address)
        if wait is None:
            return False
        if wait > 0:
            await asyncio.sleep(wait)
        return True

    def succeeded(self, address: Any) -> None:
        """A login from ``address`` succeeded: its token is given back."""
        key = source_key(address)
        if key in self._buckets:
            now = self._clock()
            self._store(key, min(float(self.burst), self._tokens(key, now) + 1.0), now)

    def _tokens(self, key: str, now: float) -> float:
        entry = self._buckets.get(key)
        if entry is None:
            return float(self.burst)
        tokens, then = entry
        return min(float(self.burst), tokens + (now - then) * self.rate)

    def _store(self, key: str, tokens: float, now: float) -> None:
        buckets = self._buckets
        if tokens >= self.burst:
            buckets.pop(key, None)  # a full bucket is what an unknown address gets anyway
            return
        buckets[key] = (tokens, now)
        buckets.move_to_end(key)
        while len(buckets) > self.max_sources:
            buckets.popitem(last=False)
