"""The persisted web site (:class:`Site`) and the service that serves it (:class:`WebService`)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, ClassVar

from appcore import (
    Factory,
    MultiService,
    NoInputError,
    Service,
    UsageError,
    check_number,
    settle,
)
from appcore_web._limits import Limits

if TYPE_CHECKING:
    from appcore_web._runtime import Responder, SiteRuntime

_APP_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
DEFAULT_INDEX = ("index.html", "index.htm")


def check_app_spec(spec: str) -> str:
    """``module:attribute`` or a UsageError saying what is expected."""
    if not _APP_SPEC.match(spec):
        raise UsageError(f"application must be given as module:attribute, not {spec!r}")
    return spec


class Site(Factory):
    """A web site's configuration; builds one HTTP protocol object per connection.

    Exactly one of ``root`` (a folder of static files), ``wsgi`` or ``asgi`` (an
    application named ``"module:attribute"``) says what is served. For a folder, names
    beginning with a dot are neither served nor listed unless ``allow_hidden``, and
    ``precompressed`` serves ``name.br`` / ``name.gz`` to clients that accept them.
    Everything here is persisted; what runs (caches, the open log file, the thread pool,
    the imported application) lives in a :class:`SiteRuntime` built on first use after
    every load.
    """

    __module__ = "appcore_web"  # persisted under its public name

    #: 2: ``allow_hidden`` and ``precompressed`` (files of version 1 get the defaults).
    persistence_version: ClassVar[int] = 2
    _transient: ClassVar[tuple[str, ...]] = ("_runtime",)
    _runtime: SiteRuntime | None = None

    def __init__(
        self,
        root: str | None = None,
        *,
        index_names: Sequence[str] = DEFAULT_INDEX,
        listing: bool = True,
        follow_symlinks: bool = False,
        allow_hidden: bool = False,
        precompressed: bool = True,
        wsgi: str | None = None,
        asgi: str | None = None,
        threads: int = 10,
        access_log: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        given = [name for name, v in (("path", root), ("wsgi", wsgi), ("asgi", asgi)) if v]
        if len(given) != 1:
            raise UsageError(
                "give exactly one of --path, --wsgi or --asgi"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if root is not None:
            root = os.path.abspath(root)
            if not os.path.isdir(root):
                raise NoInputError(f"{root}: not a folder")
        if threads < 1:
            raise UsageError(f"threads must be at least 1, not {threads}")
        for name in index_names:
            if not name or "/" in name or name in (".", ".."):
                raise UsageError(f"index name must be a plain file name, not {name!r}")
        self.root = root
        self.index_names = tuple(index_names)
        self.listing = listing
        self.follow_symlinks = follow_symlinks
        self.allow_hidden = allow_hidden
        self.precompressed = precompressed
        self.wsgi = check_app_spec(wsgi) if wsgi else None
        self.asgi = check_app_spec(asgi) if asgi else None
        self.threads = threads
        self.access_log = os.path.abspath(access_log) if access_log else None
        self.limits = limits if limits is not None else Limits()

    def _validate(self) -> None:
        check_number(self, "threads", integer=True, at_least=1)

    def upgrade_to_2(self) -> None:
        """Files from before hidden names were refused: refuse them; serve siblings."""
        self.__dict__.setdefault("allow_hidden", False)
        self.__dict__.setdefault("precompressed", True)

    def __repr__(self) -> str:
        if self.root is not None:
            return f"<Site {self.root}>"
        return f"<Site wsgi {self.wsgi}>" if self.wsgi else f"<Site asgi {self.asgi}>"

    # -- runtime

    def build_protocol(self) -> asyncio.BaseProtocol:
        from appcore_web._http import HTTPConnection

        return HTTPConnection(self.runtime())

    def runtime(self) -> SiteRuntime:
        """The runtime of this site on the running loop, built on first use."""
        loop = asyncio.get_running_loop()
        runtime = self._runtime
        if runtime is None or runtime.loop is not loop:
            from appcore_web._runtime import SiteRuntime

            runtime = self._runtime = SiteRuntime(self, loop)
        return runtime

    def make_responder(self, runtime: SiteRuntime) -> Responder:
        """What answers this site's requests (called once per runtime)."""
        if self.wsgi is not None:
            from appcore_web._wsgi import WSGIResponder

            return WSGIResponder(self.wsgi, threads=self.threads, clock=runtime.clock)
        if self.asgi is not None:
            from appcore_web._asgi import ASGIResponder

            return ASGIResponder(self.asgi, clock=runtime.clock)
        from appcore_web._static import StaticFiles

        assert self.root is not None
        return StaticFiles(
            self.root,
            index_names=self.index_names,
            listing=self.listing,
            follow_symlinks=self.follow_symlinks,
            allow_hidden=self.allow_hidden,
            precompressed=self.precompressed,
            clock=runtime.clock,
        )

    async def start(self) -> None:
        """Build a fresh runtime and start the application (ASGI lifespan startup)."""
        if self._runtime is not None and self._runtime.stopping:
            self._runtime = None
        await self.runtime().start()

    async def stop(self) -> None:
        """Finish responses in flight, close connections, release runtime state.

        The stopped runtime stays in place until the next start so that a connection
        accepted meanwhile is turned away (503) instead of starting a new runtime.
        """
        if self._runtime is not None:
            await self._runtime.stop()


class WebService(MultiService):
    """A site served on one or more endpoints, in this process or in ``workers`` processes.

    With one worker the children are :class:`~appcore.StreamServerService` objects sharing
    the one ``site``; with more, a single :class:`~appcore_web.WorkerPool` child binds the
    ports and supervises the worker processes.
    """

    __module__ = "appcore_web"  # persisted under its public name

    persistence_version: ClassVar[int] = 1

    def __init__(
        self, site: Site, endpoints: Sequence[str], *, workers: int = 1, name: str | None = None
    ) -> None:
        super().__init__(name)
        if not endpoints:
            raise UsageError("give at least one --listen endpoint")
        if workers < 1:
            raise UsageError(f"workers must be at least 1, not {workers}")
        self.site = site
        self.workers = workers
        if workers == 1:
            from appcore import StreamServerService

            for endpoint in endpoints:
                StreamServerService(endpoint, site).set_service_parent(self)
        else:
            from appcore_web._workers import WorkerPool

            WorkerPool(site, list(endpoints), workers).set_service_parent(self)

    def _validate(self) -> None:
        check_number(self, "workers", integer=True, at_least=1)

    def start_service(self) -> Awaitable[None]:
        return asyncio.ensure_future(self._start())

    async def _start(self) -> None:
        if self.workers == 1:
            await self.site.start()
        await settle(MultiService.start_service(self))

    def stop_service(self) -> Awaitable[None] | None:
        Service.stop_service(self)
        return asyncio.ensure_future(self._stop())

    async def _stop(self) -> None:
        try:
            if self.workers == 1:
                await self.site.stop()
        finally:
            for child in reversed(self.services):
                await settle(child.stop_service())
