"""The timer service: fixed-interval ticks, no overlap, skipped ticks on overrun, errors logged."""

from __future__ import annotations

import asyncio
import logging
import math
import pickle
import time
from collections.abc import Callable
from typing import Any

import pytest

from appcore import PeriodicAction, TimerService, UsageError, start_application, stop_application

pytestmark = pytest.mark.timeout(30)

Run = Callable[..., Any]


class Stamp(PeriodicAction):
    """A synchronous action noting when it ran."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def run(self) -> None:
        self.times.append(time.monotonic())


class SlowFirst(PeriodicAction):
    """An async action whose first run overruns; notes start times and overlap."""

    def __init__(self, first: float) -> None:
        self.first = first
        self.starts: list[float] = []
        self.active = 0
        self.most_active = 0

    async def run(self) -> None:
        self.starts.append(time.monotonic())
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await asyncio.sleep(self.first if len(self.starts) == 1 else 0)
        finally:
            self.active -= 1


class FailsFirst(PeriodicAction):
    def __init__(self) -> None:
        self.calls = 0

    def run(self) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("first run breaks")


class Hangs(PeriodicAction):
    def __init__(self) -> None:
        self.started = False
        self.cancelled = False

    async def run(self) -> None:
        self.started = True
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def test_fires_at_its_interval(arun: Run) -> None:
    action = Stamp()
    timer = TimerService(0.05, action)

    async def main() -> float:
        started = time.monotonic()
        await start_application(timer)
        await asyncio.sleep(0.33)
        await stop_application(timer)
        return started

    started = arun(main())
    times = action.times
    assert times[0] - started < 0.05  # now=True: the first run is at start
    assert 4 <= len(times) <= 8
    # Ticks sit on boundaries start + k * interval: never early, never drifting.
    for index, stamp in enumerate(times):
        offset = stamp - times[0]
        assert offset >= index * 0.05 - 0.005
    assert timer.runs == len(times)


def test_not_now_waits_one_interval(arun: Run) -> None:
    action = Stamp()
    timer = TimerService(0.3, action, now=False)

    async def main() -> float:
        started = time.monotonic()
        await start_application(timer)
        await asyncio.sleep(0.1)
        assert action.times == []
        # Stop as soon as the first call is seen (a loaded machine may sleep long; the
        # next call is a whole interval away), within a bound.
        deadline = started + 10
        while not action.times and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        await stop_application(timer)
        return started

    started = arun(main())
    assert len(action.times) == 1
    assert action.times[0] - started >= 0.29


def test_overrun_skips_missed_ticks_and_never_overlaps(arun: Run) -> None:
    action = SlowFirst(first=0.45)
    timer = TimerService(0.2, action)

    async def main() -> None:
        await start_application(timer)
        await asyncio.sleep(0.9)
        await stop_application(timer)

    arun(main())
    starts = action.starts
    assert action.most_active == 1
    # Run 0 took 0.45 s: the ticks at 0.2 and 0.4 are skipped, the next run is at 0.6.
    assert 0.59 <= starts[1] - starts[0] < 0.75
    assert timer.skipped == 2
    assert len(starts) == 3
    assert starts[2] - starts[0] >= 0.79  # back on the 0.2 s grid


def test_an_error_is_logged_and_the_timer_goes_on(
    arun: Run, caplog: pytest.LogCaptureFixture
) -> None:
    action = FailsFirst()
    timer = TimerService(0.02, action)

    async def main() -> None:
        await start_application(timer)
        await asyncio.sleep(0.15)
        await stop_application(timer)

    with caplog.at_level(logging.ERROR, logger="appcore"):
        arun(main())
    assert action.calls >= 3
    failures = [r for r in caplog.records if r.name == "appcore" and r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert "first run breaks" in str(failures[0].exc_info[1])


def test_stop_cancels_and_awaits_a_run_in_progress(arun: Run) -> None:
    action = Hangs()
    timer = TimerService(1.0, action)

    async def main() -> float:
        await start_application(timer)
        while not action.started:
            await asyncio.sleep(0.005)
        started = time.monotonic()
        await stop_application(timer)
        assert action.cancelled  # the stop completed only after the run was gone
        return time.monotonic() - started

    assert arun(main()) < 1.0
    assert not timer.running


@pytest.mark.parametrize("interval", [0, -1, math.inf, math.nan])
def test_bad_interval(interval: float) -> None:
    with pytest.raises(UsageError, match="interval"):
        TimerService(interval, Stamp())


def test_timer_pickles_without_runtime_state(arun: Run) -> None:
    timer = TimerService(0.01, Stamp(), now=False, name="tick")

    async def main() -> bytes:
        await start_application(timer)
        await asyncio.sleep(0.05)
        data = pickle.dumps(timer)
        await stop_application(timer)
        return data

    loaded = pickle.loads(arun(main()))
    assert isinstance(loaded, TimerService)
    assert (loaded.interval, loaded.now, loaded.name) == (0.01, False, "tick")
    assert not loaded.running
    assert "_task" not in vars(loaded)
    assert "runs" not in vars(loaded)
