"""Bring a service tree to life on an event loop, and stop it in order.

twistd builds daemonizing, pid files and saving on top of these; they are also the whole of
what is needed to run an Application by hand.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from appcore._loops import DEFAULT_LOOP, new_event_loop
from appcore.service._tree import Service, settle

if TYPE_CHECKING:
    import asyncio

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def start_application(
    root: Service, *, drop_privileges: Callable[[], None] | None = None
) -> None:
    """Privileged start, then (after ``drop_privileges``) start; returns once started."""
    root.privileged_start_service()
    if drop_privileges is not None:
        drop_privileges()
    await settle(root.start_service())


async def stop_application(root: Service) -> None:
    """Stop the tree (children in reverse order) and wait until every stop completed."""
    if root.running:
        await settle(root.stop_service())


async def serve_until_signal(
    root: Service,
    *,
    on_started: Callable[[], None] | None = None,
    signals: tuple[signal.Signals, ...] = STOP_SIGNALS,
) -> signal.Signals:
    """Start ``root``, wait for one of ``signals``, stop it; returns the signal received."""
    import asyncio

    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()
    for sig in signals:
        loop.add_signal_handler(sig, _resolve_once, received, sig)
    try:
        await start_application(root)
        if on_started is not None:
            on_started()
        sig = await received
    finally:
        for s in signals:
            loop.remove_signal_handler(s)
    await stop_application(root)
    return sig


def _resolve_once(future: asyncio.Future[signal.Signals], sig: signal.Signals) -> None:
    if not future.done():
        future.set_result(sig)


def run_application(
    root: Service,
    loop_name: str = DEFAULT_LOOP,
    *,
    on_started: Callable[[], None] | None = None,
) -> signal.Signals:
    """Run ``root`` on the named loop until SIGTERM or SIGINT, then stop it in order."""
    loop = new_event_loop(loop_name)
    try:
        return loop.run_until_complete(serve_until_signal(root, on_started=on_started))
    finally:
        _close_loop(loop)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
