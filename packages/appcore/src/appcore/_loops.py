"""Event loop ("reactor") choice by name.

``asyncio`` is the default loop of the running Python; ``uvloop`` needs the optional extra;
``epoll``, ``poll`` and ``select`` are asyncio selector loops forced onto that selector.
"""

from __future__ import annotations

import importlib.util
import selectors
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appcore._errors import UnavailableError

if TYPE_CHECKING:
    import asyncio

DEFAULT_LOOP = "asyncio"


@dataclass(frozen=True)
class LoopKind:
    """A named event loop and whether it can run here."""

    name: str
    description: str
    available: bool


def _selector_loop(selector_name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    def make() -> asyncio.AbstractEventLoop:
        import asyncio

        selector_cls: type[selectors.BaseSelector] = getattr(selectors, selector_name)
        return asyncio.SelectorEventLoop(selector_cls())

    return make


def _default_loop() -> asyncio.AbstractEventLoop:
    import asyncio

    return asyncio.new_event_loop()


def _uvloop() -> asyncio.AbstractEventLoop:
    import uvloop

    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


_FACTORIES: dict[str, tuple[str, Callable[[], bool], Callable[[], asyncio.AbstractEventLoop]]] = {
    "asyncio": ("the standard asyncio loop (default)", lambda: True, _default_loop),
    "uvloop": (
        "libuv-based loop (pip install 'appcore[uvloop]')",
        lambda: importlib.util.find_spec("uvloop") is not None,
        _uvloop,
    ),
    "epoll": (
        "asyncio selector loop on epoll",
        lambda: hasattr(selectors, "EpollSelector"),
        _selector_loop("EpollSelector"),
    ),
    "poll": (
        "asyncio selector loop on poll",
        lambda: hasattr(selectors, "PollSelector"),
        _selector_loop("PollSelector"),
    ),
    "select": ("asyncio selector loop on select", lambda: True, _selector_loop("SelectSelector")),
}

LOOP_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def loop_kinds() -> list[LoopKind]:
    """Every loop name this release knows, marking which can run on this machine."""
    return [LoopKind(name, desc, probe()) for name, (desc, probe, _) in _FACTORIES.items()]


def available_loops() -> list[str]:
    """The names of the loops that can run here."""
    return [kind.name for kind in loop_kinds() if kind.available]


def new_event_loop(name: str = DEFAULT_LOOP) -> asyncio.AbstractEventLoop:
    """A new event loop of the named kind; a clear error for an unknown or missing one."""
    entry = _FACTORIES.get(name)
    available = ", ".join(available_loops())
    if entry is None:
        raise UnavailableError(f"unknown event loop {name!r}; available: {available}")
    _, probe, factory = entry
    if not probe():
        raise UnavailableError(f"event loop {name!r} is not installed here; available: {available}")
    return factory()
