"""The live side of a Site: connections, caches, the access log, the application adapter.

A :class:`~appcore_web.Site` persists configuration only; the first connection (or the web
service starting) builds one :class:`SiteRuntime` on the running loop. It owns everything
that must never be pickled and is rebuilt after a load: open files, thread pools, imported
applications, timers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from appcore_web._accesslog import AccessLog
from appcore_web._response import Clock

if TYPE_CHECKING:
    from appcore_web._http import HTTPConnection, Request
    from appcore_web._site import Site

logger = logging.getLogger("appcore.web")


class Responder(Protocol):
    """What answers requests: static files, a WSGI or an ASGI application."""

    def respond(self, conn: HTTPConnection, req: Request) -> Awaitable[None] | None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class SiteRuntime:
    """Runtime state of one site in one process."""

    def __init__(self, site: Site, loop: asyncio.AbstractEventLoop) -> None:
        self.site = site
        self.loop = loop
        self.limits = site.limits
        self.clock = Clock()
        self.connections: set[HTTPConnection] = set()
        self.stopping = False
        #: True in a worker process of a ``workers > 1`` service (WSGI's wsgi.multiprocess).
        self.multiprocess = False
        #: Whether WebSocket handshakes are handed to the responder (ASGI applications).
        self.websockets = site.asgi is not None
        self.access_log = AccessLog(site.access_log, self.clock) if site.access_log else None
        self.responder: Responder = site.make_responder(self)
        self.respond: Callable[[HTTPConnection, Request], Awaitable[None] | None] = (
            self.responder.respond
        )
        self._started = False
        self._tick_handle: asyncio.TimerHandle | None = None
        self._tick_every = min(1.0, self.limits.smallest_timeout() / 4)
        self._tick_handle = loop.call_later(self._tick_every, self._tick)

    async def start(self) -> None:
        """Start the application (ASGI lifespan, thread pool); idempotent."""
        if not self._started:
            self._started = True
            await self.responder.start()

    async def stop(self) -> None:
        """Finish the responses in flight (within ``shutdown_timeout``), then release all."""
        self.stopping = True
        for conn in list(self.connections):
            if conn.idle():
                conn.abort()
            elif conn.upgraded is not None:
                conn.upgraded.going_away()
        deadline = self.loop.time() + self.limits.shutdown_timeout
        while any(not c.idle() for c in self.connections) and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn.abort()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        try:
            await self.responder.stop()
        finally:
            if self.access_log is not None:
                self.access_log.close()
                self.access_log = None

    def _tick(self) -> None:
        """Enforce timeouts and flush the access log; runs a few times a second."""
        now = self.loop.time()
        for conn in list(self.connections):
            if conn.write_deadline and now > conn.write_deadline:
                logger.debug("dropping %s: it stopped reading", conn.peer)
                conn.abort()
            elif not conn.busy and conn.read_deadline and now > conn.read_deadline:
                conn.time_out()
        if self.access_log is not None:
            self.access_log.flush()
        self._tick_handle = self.loop.call_later(self._tick_every, self._tick)
