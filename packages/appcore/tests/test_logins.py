"""LoginThrottle: failed logins per source address, shared across connections, bounded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from appcore import LoginThrottle, source_key


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_two_a_second_then_refused() -> None:
    clock = Clock()
    throttle = LoginThrottle(rate=2.0, burst=2, max_wait=10.0, clock=clock)
    peer = ("192.0.2.7", 50000)
    waits = [throttle.reserve(peer) for _ in range(22)]
    assert waits[:2] == [0.0, 0.0]  # the burst
    assert waits[2:] == pytest.approx([0.5 * n for n in range(1, 21)])  # then 2 a second
    assert throttle.reserve(peer) is None  # past 10 s of waiting: refused
    clock.now += 11.0  # the queue drained; the next attempt waits for its turn again
    assert throttle.reserve(peer) == pytest.approx(0.0)


def test_addresses_count_apart_and_ipv6_per_network() -> None:
    clock = Clock()
    throttle = LoginThrottle(rate=2.0, burst=1, clock=clock)
    assert throttle.reserve(("192.0.2.1", 1)) == 0.0
    assert throttle.reserve(("192.0.2.2", 1)) == 0.0  # another address: its own bucket
    assert throttle.reserve(("192.0.2.1", 2)) == pytest.approx(0.5)  # same address
    assert throttle.reserve(("2001:db8::1", 1, 0, 0)) == 0.0
    assert throttle.reserve(("2001:db8::ffff", 1, 0, 0)) == pytest.approx(0.5)  # same /64
    assert source_key(("::ffff:192.0.2.9", 1, 0, 0)) == "192.0.2.9"
    assert source_key(None) == source_key("") == "local"


def test_a_success_gives_its_token_back() -> None:
    clock = Clock()
    throttle = LoginThrottle(rate=2.0, burst=1, clock=clock)
    peer = ("192.0.2.3", 1)
    for _ in range(5):
        assert throttle.reserve(peer) == 0.0
        throttle.succeeded(peer)
    assert len(throttle) == 0  # a full bucket is not even remembered


def test_cycling_addresses_cannot_grow_the_table_past_its_bound() -> None:
    throttle = LoginThrottle(max_sources=100, clock=Clock())
    for n in range(10_000):
        throttle.reserve((f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", 1))
    assert len(throttle) == 100


def test_admit_waits_for_the_turn(arun: Callable[..., Any]) -> None:
    import asyncio

    async def main() -> tuple[list[bool], list[bool]]:
        throttle = LoginThrottle(rate=20.0, burst=1, max_wait=0.12)
        loop = asyncio.get_running_loop()
        started = loop.time()
        one_by_one = [await throttle.admit(("192.0.2.4", 1)) for _ in range(3)]
        assert loop.time() - started >= 0.09  # the 2nd and 3rd waited 0.05 s each
        at_once = await asyncio.gather(*(throttle.admit("192.0.2.4") for _ in range(4)))
        return one_by_one, list(at_once)

    one_by_one, at_once = arun(main(), timeout=10)
    assert one_by_one == [True, True, True]
    assert at_once.count(False) >= 1  # past max_wait: refused rather than queued
