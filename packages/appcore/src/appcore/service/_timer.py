"""A service that runs a periodic action, with a fixed policy for runs that overrun."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
from collections.abc import Awaitable
from typing import ClassVar

from appcore._errors import InternalError, UsageError
from appcore._numbers import check_number
from appcore.persist._persistent import Persistent
from appcore.service._tree import Service

logger = logging.getLogger("appcore")


class PeriodicAction(Persistent):
    """What a :class:`TimerService` runs. Persisted with the Application, so it carries
    configuration only. Subclasses override :meth:`run`."""

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    def run(self) -> Awaitable[None] | None:
        """Do the work once. May be a plain method or return an awaitable (``async def``)."""
        raise NotImplementedError(f"{type(self).__name__} must define run()")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class TimerService(Service):
    """Runs ``action`` every ``interval`` seconds while running.

    Ticks fall on fixed boundaries ``start + k * interval`` (the first one at start when
    ``now`` is true, else one interval later), so runs do not drift. Overrun policy:

    - runs never overlap: the next run waits for the current one to finish;
    - if a run overruns its slot, the ticks it missed are skipped, not bunched up: the next
      run starts on the next interval boundary after the overrunning run ended
      (:attr:`skipped` counts the skipped ticks);
    - an exception from a run is logged on the ``appcore`` logger and the timer keeps going.

    Stopping cancels a run in progress (an ``async`` run sees ``CancelledError``) and
    completes once it is gone. A synchronous run blocks the event loop while it runs, so
    long work belongs in an ``async`` run.
    """

    __module__ = "appcore"  # persisted under its public name (persist/_aliases.py)

    _transient: ClassVar[tuple[str, ...]] = ("_task", "runs", "skipped")
    _task: asyncio.Task[None] | None = None
    #: Runs completed (successfully or not) since the service started.
    runs: int = 0
    #: Ticks skipped because a run overran them, since the service started.
    skipped: int = 0

    def __init__(
        self, interval: float, action: PeriodicAction, now: bool = True, name: str | None = None
    ) -> None:
        super().__init__(name)
        if not (math.isfinite(interval) and interval > 0):
            raise UsageError(f"timer interval must be a positive number of seconds, not {interval}")
        self.interval = float(interval)
        self.action = action
        self.now = now

    def _validate(self) -> None:
        check_number(self, "interval", more_than=0)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} every {self.interval:g}s {self.action!r}>"

    def start_service(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise InternalError(f"{self!r}: start_service needs a running event loop") from None
        super().start_service()
        self.runs = 0
        self.skipped = 0
        self._task = loop.create_task(self._tick())

    def stop_service(self) -> Awaitable[None] | None:
        super().stop_service()
        task, self._task = self._task, None
        if task is None:
            return None
        task.cancel()
        return asyncio.ensure_future(_finish(task))

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = 0 if self.now else 1
        while True:
            delay = start + tick * self.interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._run_once()
            self.runs += 1
            # The last boundary already passed; the next run goes on the one after it.
            passed = math.floor((loop.time() - start) / self.interval)
            following = max(tick + 1, passed + 1)
            self.skipped += following - tick - 1
            tick = following

    async def _run_once(self) -> None:
        try:
            result = self.action.run()
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("timer action %r failed; the timer goes on", self.action)


async def _finish(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await task
